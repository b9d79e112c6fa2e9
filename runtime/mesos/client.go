// Package mesos is mesosnet's client of the Mesos operator HTTP API v1 on the
// masters: the unary calls GET_MASTER and GET_STATE, the SUBSCRIBE event
// stream, and Source, the long-running subscriber that feeds the stream into a
// Sink (the state model) and reconnects whenever the stream dies.
//
// Messages are the mesos-go v0.0.11 types (JSON on the wire). The stream is
// read with runtime/mesos/recordio, whose frame limit is configurable: the
// SUBSCRIBED snapshot of a large cluster is far beyond the 4 MiB that mesos-go
// accepts.
//
// Leader discovery follows Mesos' own protocol: a master that does not lead
// answers 307 with a protocol-relative Location of the leader
// ("//10.0.0.2:5050/api/v1"); one that knows no leader (an election is under
// way) answers 503. The Client remembers the leader and starts there next
// time, then tries the configured masters in order.
package mesos

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/mesos/recordio"
)

// Defaults of Config.
const (
	DefaultTimeout = 30 * time.Second
	DefaultVersion = "dev"
	// apiPath is appended to every master URL.
	apiPath = "/api/v1"
	// maxRedirects is how many 307 hops one call follows.
	maxRedirects = 3
	// maxErrorBody is how much of an error response is quoted.
	maxErrorBody = 512
	// maxDialTimeout caps the TCP connect timeout (dcos-net uses 5 s).
	maxDialTimeout = 5 * time.Second
)

// Config configures a Client.
type Config struct {
	// Masters are the Mesos masters, as URLs ("http://m1:5050",
	// "https://10.0.0.1:5050", "https://dcos/mesos" behind a proxy). The
	// path /api/v1 is appended. A bare "host:port" means http, or https when
	// TLS is configured. At least one is required.
	Masters []string
	// Auth, when set, adds an Authorization header to every call.
	Auth Auth
	// TLS configures https. Zero means the system roots and no client
	// certificate.
	TLS TLSConfig
	// Timeout bounds each HTTP exchange of a unary call (request and whole
	// response) and, for SUBSCRIBE, the wait for the response headers; the
	// stream itself is watched by heartbeats instead. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxFrame is the largest stream frame and unary response body accepted,
	// in bytes. Zero means recordio.DefaultMaxFrame (256 MiB).
	MaxFrame int
	// Version is sent in the User-Agent header, "mesosnet/<Version>". Empty
	// means DefaultVersion.
	Version string
	// Logger receives the client's logs; nil discards them.
	Logger *zap.Logger
}

// Auth holds the credentials of the operator API: either a token, sent as
// `Authorization: token=<Token>` exactly like dcos-net does with its service
// account token, or a user and password for HTTP basic authentication.
type Auth struct {
	Token    string
	Username string
	Password string
}

// header returns the Authorization header value, "" for none.
func (a Auth) header() (string, error) {
	switch {
	case a.Token != "" && (a.Username != "" || a.Password != ""):
		return "", errors.New("auth: set either a token or a user name and password, not both")
	case a.Token != "":
		if strings.ContainsAny(a.Token, "\r\n") {
			return "", errors.New("auth: token contains a line break")
		}
		return "token=" + a.Token, nil
	case a.Username != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)), nil
	case a.Password != "":
		return "", errors.New("auth: password set without a user name")
	}
	return "", nil
}

// TLSConfig configures the https connections to the masters.
type TLSConfig struct {
	// CAFile is a PEM bundle of the certificate authorities that sign the
	// masters' certificates. Empty means the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key presented
	// to the masters; both or neither.
	CertFile string
	KeyFile  string
}

func (t TLSConfig) configured() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// build returns the tls.Config, nil when nothing is configured.
func (t TLSConfig) build() (*tls.Config, error) {
	if !t.configured() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("tls: client certificate %q and key %q must be set together", t.CertFile, t.KeyFile)
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load client certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// StatusError is a non-2xx answer of a master.
type StatusError struct {
	// URL is the endpoint that answered.
	URL string
	// StatusCode and Status are the HTTP status ("503 Service Unavailable").
	StatusCode int
	Status     string
	// Body is the start of the response body (at most 512 bytes).
	Body string
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("%s answered %s", e.URL, e.Status)
	}
	return fmt.Sprintf("%s answered %s: %q", e.URL, e.Status, e.Body)
}

// Client calls the operator API of the leading Mesos master. It is safe for
// concurrent use.
type Client struct {
	masters   []*url.URL // endpoints, path ending in /api/v1
	http      *http.Client
	authz     string
	userAgent string
	timeout   time.Duration
	maxFrame  int
	log       *zap.Logger

	mu     sync.Mutex
	leader *url.URL // endpoint of the last master that answered
}

// NewClient validates cfg and returns a Client. It fails on an empty or
// malformed master list, conflicting credentials, or TLS files that cannot
// be loaded, naming the culprit.
func NewClient(cfg Config) (*Client, error) {
	if len(cfg.Masters) == 0 {
		return nil, errors.New("no Mesos master configured")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("negative timeout %s", cfg.Timeout)
	}
	if cfg.MaxFrame < 0 {
		return nil, fmt.Errorf("negative max frame size %d", cfg.MaxFrame)
	}
	c := &Client{
		timeout:   cfg.Timeout,
		maxFrame:  cfg.MaxFrame,
		userAgent: "mesosnet/" + cfg.Version,
		log:       cfg.Logger,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxFrame == 0 {
		c.maxFrame = recordio.DefaultMaxFrame
	}
	if cfg.Version == "" {
		c.userAgent = "mesosnet/" + DefaultVersion
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.log = c.log.Named("mesos")
	for _, m := range cfg.Masters {
		u, err := parseMaster(m, cfg.TLS.configured())
		if err != nil {
			return nil, err
		}
		c.masters = append(c.masters, u)
	}
	authz, err := cfg.Auth.header()
	if err != nil {
		return nil, err
	}
	c.authz = authz
	tlsCfg, err := cfg.TLS.build()
	if err != nil {
		return nil, err
	}
	c.http = &http.Client{
		Transport: &http.Transport{
			// Masters are reached directly: an environment proxy meant for
			// the internet must not sit between a node and its masters.
			Proxy: nil,
			DialContext: (&net.Dialer{
				Timeout:   min(c.timeout, maxDialTimeout),
				KeepAlive: 30 * time.Second,
			}).DialContext,
			TLSClientConfig:     tlsCfg,
			TLSHandshakeTimeout: min(c.timeout, 10*time.Second),
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
		// Redirects are followed by hand: net/http would turn the POST of
		// a 301/302 into a GET and has no hop limit of ours.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// parseMaster turns a configured master into its API endpoint URL.
func parseMaster(s string, tlsConfigured bool) (*url.URL, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return nil, errors.New("empty Mesos master URL")
	}
	if !strings.Contains(raw, "://") {
		scheme := "http://"
		if tlsConfigured {
			scheme = "https://"
		}
		raw = scheme + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("mesos master %q: %w", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("mesos master %q: scheme %q is not http or https", s, u.Scheme)
	case u.Host == "":
		return nil, fmt.Errorf("mesos master %q: no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("mesos master %q: credentials in the URL are not supported, use the auth settings", s)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("mesos master %q: query or fragment not allowed", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + apiPath
	u.RawPath = ""
	return u, nil
}

// Leader returns the URL of the master that answered last (without the
// /api/v1 path), "" before the first successful call.
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == nil {
		return ""
	}
	return baseURL(c.leader)
}

func baseURL(endpoint *url.URL) string {
	return strings.TrimSuffix(endpoint.String(), apiPath)
}

// GetMaster returns the leading master's GET_MASTER answer (its MasterInfo,
// start and election times).
func (c *Client) GetMaster(ctx context.Context) (*master.Response_GetMaster, error) {
	r, _, err := c.getMaster(ctx)
	return r, err
}

func (c *Client) getMaster(ctx context.Context) (*master.Response_GetMaster, *url.URL, error) {
	resp, endpoint, err := c.call(ctx, &master.Call{Type: master.Call_GET_MASTER})
	if err != nil {
		return nil, nil, err
	}
	if resp.GetMaster == nil {
		return nil, nil, fmt.Errorf("GET_MASTER: %s answered %s without get_master", baseURL(endpoint), resp.Type)
	}
	return resp.GetMaster, endpoint, nil
}

// GetState returns the leading master's GET_STATE answer: agents,
// frameworks, tasks and executors.
func (c *Client) GetState(ctx context.Context) (*master.Response_GetState, error) {
	resp, endpoint, err := c.call(ctx, &master.Call{Type: master.Call_GET_STATE})
	if err != nil {
		return nil, err
	}
	if resp.GetState == nil {
		return nil, fmt.Errorf("GET_STATE: %s answered %s without get_state", baseURL(endpoint), resp.Type)
	}
	return resp.GetState, nil
}

// Call sends any unary call to the leading master and returns its decoded
// response. SUBSCRIBE is refused: use Subscribe.
func (c *Client) Call(ctx context.Context, call *master.Call) (*master.Response, error) {
	if call.Type == master.Call_SUBSCRIBE {
		return nil, errors.New("SUBSCRIBE is a stream: use Subscribe")
	}
	resp, _, err := c.call(ctx, call)
	return resp, err
}

// call runs a unary call and checks that the response type matches.
func (c *Client) call(ctx context.Context, call *master.Call) (*master.Response, *url.URL, error) {
	name := call.Type.String()
	body, err := json.Marshal(call)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: encode call: %w", name, err)
	}
	ex, err := c.exchange(ctx, name, body)
	if err != nil {
		return nil, nil, err
	}
	defer ex.release()
	if err := checkContentType(ex.resp.Header, false); err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", name, baseURL(ex.endpoint), err)
	}
	raw, err := c.readBody(ex)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read answer of %s: %w", name, baseURL(ex.endpoint), err)
	}
	want, hasResponse := master.Response_Type_value[name]
	if !hasResponse {
		// Calls that change state (SET_LOGGING_LEVEL, TEARDOWN, ...) are
		// answered 202 Accepted without a body.
		return &master.Response{}, ex.endpoint, nil
	}
	var resp master.Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, nil, fmt.Errorf("%s: decode answer of %s: %w", name, baseURL(ex.endpoint), err)
	}
	if resp.Type != master.Response_Type(want) {
		return nil, nil, fmt.Errorf("%s: %s answered with a %s response", name, baseURL(ex.endpoint), resp.Type)
	}
	return &resp, ex.endpoint, nil
}

// readBody reads a unary response body, at most maxFrame bytes.
func (c *Client) readBody(ex *exchange) ([]byte, error) {
	if n := ex.resp.ContentLength; n > int64(c.maxFrame) {
		return nil, fmt.Errorf("body of %d bytes exceeds the limit of %d bytes", n, c.maxFrame)
	}
	var buf bytes.Buffer
	if n := ex.resp.ContentLength; n > 0 {
		buf.Grow(int(n))
	}
	if _, err := buf.ReadFrom(io.LimitReader(ex.resp.Body, int64(c.maxFrame)+1)); err != nil {
		return nil, ex.cause(err)
	}
	if buf.Len() > c.maxFrame {
		return nil, fmt.Errorf("body exceeds the limit of %d bytes", c.maxFrame)
	}
	return buf.Bytes(), nil
}

// exchange is a 2xx response of a master and what bounds its lifetime.
type exchange struct {
	resp     *http.Response
	endpoint *url.URL
	ctx      context.Context
	cancel   context.CancelCauseFunc
	timer    *time.Timer
}

// release frees the response of a unary call.
func (ex *exchange) release() {
	ex.timer.Stop()
	_ = ex.resp.Body.Close()
	ex.cancel(nil)
}

// cause replaces an error caused by cancelling the exchange (timeout, Close)
// with the reason of the cancellation.
func (ex *exchange) cause(err error) error {
	if cause := context.Cause(ex.ctx); cause != nil {
		return cause
	}
	return err
}

// errTimeout is the cancellation cause of an exchange that took too long.
type errTimeout struct{ d time.Duration }

func (e errTimeout) Error() string   { return fmt.Sprintf("no answer within %s", e.d) }
func (e errTimeout) Unwrap() error   { return context.DeadlineExceeded }
func (e errTimeout) Timeout() bool   { return true }
func (e errTimeout) Temporary() bool { return true }

// exchange posts body to the leader, or to each master in turn until one
// accepts it, following redirects. On success the caller owns the exchange.
func (c *Client) exchange(ctx context.Context, name string, body []byte) (*exchange, error) {
	var errs []error
	for _, endpoint := range c.candidates() {
		ex, err := c.tryMaster(ctx, endpoint, body)
		if err == nil {
			c.setLeader(ex.endpoint)
			return ex, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", name, context.Cause(ctx))
		}
		errs = append(errs, err)
		c.log.Debug("Failed to call Mesos master", zap.String("call", name), zap.String("master", baseURL(endpoint)), zap.Error(err))
	}
	return nil, fmt.Errorf("%s: no Mesos master accepted the call: %w", name, errors.Join(errs...))
}

// candidates returns the endpoints to try: the last leader first, then the
// configured masters in order.
func (c *Client) candidates() []*url.URL {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	out := make([]*url.URL, 0, len(c.masters)+1)
	if leader != nil {
		out = append(out, leader)
	}
	for _, m := range c.masters {
		if leader == nil || m.String() != leader.String() {
			out = append(out, m)
		}
	}
	return out
}

func (c *Client) setLeader(endpoint *url.URL) {
	c.mu.Lock()
	changed := c.leader == nil || c.leader.String() != endpoint.String()
	c.leader = endpoint
	c.mu.Unlock()
	if changed {
		c.log.Info("Found leading Mesos master", zap.String("leader", baseURL(endpoint)))
	}
}

// tryMaster posts body to endpoint and follows up to maxRedirects redirects.
func (c *Client) tryMaster(ctx context.Context, endpoint *url.URL, body []byte) (*exchange, error) {
	target := endpoint
	for hop := 0; ; hop++ {
		ex, err := c.post(ctx, target, body)
		if err != nil {
			return nil, err
		}
		code := ex.resp.StatusCode
		switch {
		case code >= 200 && code < 300:
			return ex, nil
		case code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect:
			loc := ex.resp.Header.Get("Location")
			ex.discard()
			if hop == maxRedirects {
				return nil, fmt.Errorf("%s: more than %d redirects, last to %q", baseURL(endpoint), maxRedirects, loc)
			}
			next, err := resolveRedirect(target, loc)
			if err != nil {
				return nil, err
			}
			c.log.Debug("Followed Mesos master redirect", zap.String("from", baseURL(target)), zap.String("to", baseURL(next)))
			target = next
		default:
			b, _ := io.ReadAll(io.LimitReader(ex.resp.Body, maxErrorBody))
			ex.discard()
			return nil, &StatusError{URL: target.String(), StatusCode: code, Status: ex.resp.Status, Body: string(b)}
		}
	}
}

// resolveRedirect resolves a Location header against the request URL. Mesos
// sends it protocol-relative ("//host:port/api/v1"), so the scheme is kept.
func resolveRedirect(from *url.URL, loc string) (*url.URL, error) {
	if loc == "" {
		return nil, fmt.Errorf("%s: redirect without a Location", from)
	}
	next, err := from.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%s: redirect to bad Location %q: %w", from, loc, err)
	}
	if (next.Scheme != "http" && next.Scheme != "https") || next.Host == "" {
		return nil, fmt.Errorf("%s: redirect to unusable Location %q", from, loc)
	}
	next.User = nil
	next.Fragment = ""
	return next, nil
}

// discard drains a little of an unwanted response so the connection can be
// reused, and releases it.
func (ex *exchange) discard() {
	_, _ = io.Copy(io.Discard, io.LimitReader(ex.resp.Body, 4<<10))
	ex.release()
}

// post sends one HTTP request, bounded by the client timeout until the
// caller stops the exchange's timer.
func (c *Client) post(ctx context.Context, endpoint *url.URL, body []byte) (*exchange, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.timeout, func() { cancel(errTimeout{c.timeout}) })
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, endpoint.String(), bytes.NewReader(body))
	if err != nil {
		timer.Stop()
		cancel(nil)
		return nil, fmt.Errorf("build request to %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		timer.Stop()
		cause := context.Cause(rctx)
		cancel(nil)
		if cause != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("POST %s: %w", endpoint, cause)
		}
		return nil, err // *url.Error names the method and URL
	}
	return &exchange{resp: resp, endpoint: endpoint, ctx: rctx, cancel: cancel, timer: timer}, nil
}

// checkContentType accepts JSON, or for a stream RecordIO of JSON messages.
func checkContentType(h http.Header, stream bool) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("bad Content-Type %q: %w", ct, err)
	}
	switch {
	case mt == "application/json":
		return nil
	case stream && mt == "application/recordio":
		mct := h.Get("Message-Content-Type")
		if mct == "" {
			return nil
		}
		if mt, _, err := mime.ParseMediaType(mct); err != nil || mt != "application/json" {
			return fmt.Errorf("stream of %q messages, want application/json", mct)
		}
		return nil
	}
	return fmt.Errorf("unexpected Content-Type %q", ct)
}
