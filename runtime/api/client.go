package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ClientOptions configures NewClient.
type ClientOptions struct {
	// URLs are the masters' API base URLs ("http://10.0.0.1:62080"), tried
	// in order. Required.
	URLs []string
	// Token is sent as a bearer token when not empty.
	Token string
	// HTTPClient sends the requests; nil means http.DefaultClient. Its
	// Timeout must be zero: watch streams do not end.
	HTTPClient *http.Client
	// IdleTimeout (30s) is how long a stream may stay silent (no event, no
	// heartbeat) before the client drops it and reconnects; keep it a few
	// server heartbeat intervals.
	IdleTimeout time.Duration
	// Backoff returns how long to wait before the attempt-th consecutive
	// reconnection (attempt >= 1); nil means jittered exponential backoff
	// from 100ms to 10s.
	Backoff func(attempt int) time.Duration
	// MaxLineBytes (64 MiB) bounds one stream line (a reset holds the
	// whole state).
	MaxLineBytes int
}

// Client follows the cluster API of a set of masters.
type Client struct {
	urls    []string
	token   string
	http    *http.Client
	idle    time.Duration
	backoff func(int) time.Duration
	maxLine int
}

// NewClient returns a client of the masters at opts.URLs.
func NewClient(opts ClientOptions) (*Client, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("new api client: no URLs")
	}
	c := &Client{
		urls:    make([]string, 0, len(opts.URLs)),
		token:   opts.Token,
		http:    opts.HTTPClient,
		idle:    cmpOr(opts.IdleTimeout, 30*time.Second),
		backoff: opts.Backoff,
		maxLine: opts.MaxLineBytes,
	}
	for _, u := range opts.URLs {
		if _, err := url.Parse(u); err != nil {
			return nil, fmt.Errorf("new api client: %w", err)
		}
		c.urls = append(c.urls, strings.TrimRight(u, "/"))
	}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.backoff == nil {
		c.backoff = JitteredBackoff(100*time.Millisecond, 10*time.Second)
	}
	if c.maxLine <= 0 {
		c.maxLine = 64 << 20
	}
	return c, nil
}

// JitteredBackoff returns a backoff doubling from base up to limit, each
// wait drawn uniformly from its upper half.
func JitteredBackoff(base, limit time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := limit
		if attempt < 30 {
			if b := base << max(attempt-1, 0); b > 0 {
				d = min(b, limit)
			}
		}
		return d/2 + rand.N(d/2+1)
	}
}

// StatusError is a non-200 answer of a master.
type StatusError struct {
	URL        string
	StatusCode int
	Code       string
	Message    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.URL, e.StatusCode, e.Code, e.Message)
}

// permanent reports whether retrying elsewhere cannot help.
func (e *StatusError) permanent() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusBadRequest ||
		e.StatusCode == http.StatusForbidden
}

// cursor is where a watch resumes: rev is the revision of the last event
// delivered, n how many events of rev were delivered, and complete whether
// every event of rev is known to be delivered (after a reset or a
// heartbeat).
type cursor struct {
	rev      uint64
	n        int
	complete bool
}

// from returns the revision to resume from and how many events of c.rev the
// new stream will repeat first.
func (c cursor) from() (uint64, int) {
	if c.complete || c.rev == 0 {
		return c.rev, 0
	}
	return c.rev - 1, c.n
}

// Watch follows the changes after revision (0: start with a reset), calling
// fn for every put, delete and reset, in order, until ctx ends (ctx.Err()),
// fn fails (its error), or a master rejects the request for good (401, 400:
// a *StatusError). A broken or silent stream is resumed on the next URL
// after a backoff, so fn sees every change once or a reset. Events of one
// raft entry (a Batch) share a revision.
func (c *Client) Watch(ctx context.Context, revision uint64, fn func(Event) error) error {
	return c.watch(ctx, revision, "", fn)
}

// WatchKind is Watch restricted to the objects of one kind.
func (c *Client) WatchKind(ctx context.Context, revision uint64, kind string, fn func(Event) error) error {
	if kind == "" {
		return errors.New("watch: empty kind")
	}
	return c.watch(ctx, revision, kind, fn)
}

func (c *Client) watch(ctx context.Context, revision uint64, kind string, fn func(Event) error) error {
	cur := cursor{rev: revision, complete: true}
	attempt := 0
	for i := 0; ; i = (i + 1) % len(c.urls) {
		progressed, err := c.stream(ctx, c.urls[i], kind, &cur, fn)
		var se *StatusError
		var fe fnError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &fe):
			return fe.err
		case errors.As(err, &se) && se.permanent():
			return err
		}
		if progressed {
			attempt = 0
		}
		attempt++
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// fnError carries the consumer's error out of stream.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// stream runs one watch request against base, advancing cur. It reports
// whether it delivered anything, and why it ended.
func (c *Client) stream(ctx context.Context, base, kind string, cur *cursor, fn func(Event) error) (bool, error) {
	from, skip := cur.from()
	q := url.Values{"revision": {strconv.FormatUint(from, 10)}}
	if kind != "" {
		q.Set("kind", kind)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/watch?"+q.Encode(), nil)
	if err != nil {
		return false, fmt.Errorf("watch %s: %w", base, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// A silent stream is dead: the idle timer cancels the request.
	idle := time.AfterFunc(c.idle, cancel)
	defer idle.Stop()
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("watch %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, readStatusError(base, resp)
	}
	progressed := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), c.maxLine)
	for sc.Scan() {
		idle.Reset(c.idle)
		e, err := DecodeEvent(sc.Bytes())
		if err != nil {
			return progressed, fmt.Errorf("watch %s: %w", base, err)
		}
		switch e.Type {
		case EventHeartbeat:
			if e.Revision > cur.rev || (e.Revision == cur.rev && skip == 0) {
				skip = 0
				*cur = cursor{rev: e.Revision, complete: true}
			}
			continue
		case EventReset:
			skip = 0
			*cur = cursor{rev: e.Revision, complete: true}
		default:
			if skip > 0 && e.Revision == cur.rev {
				skip-- // delivered before the stream broke
				continue
			}
			skip = 0
			switch {
			case e.Revision == cur.rev && !cur.complete:
				cur.n++
			case e.Revision > cur.rev:
				*cur = cursor{rev: e.Revision, n: 1}
			default:
				return progressed, fmt.Errorf("watch %s: event at revision %d after %d", base, e.Revision, cur.rev)
			}
		}
		progressed = true
		if err := fn(e); err != nil {
			return progressed, fnError{err}
		}
	}
	if err := sc.Err(); err != nil {
		return progressed, fmt.Errorf("watch %s: %w", base, err)
	}
	return progressed, fmt.Errorf("watch %s: %w", base, io.ErrUnexpectedEOF)
}

func readStatusError(base string, resp *http.Response) error {
	se := &StatusError{URL: base, StatusCode: resp.StatusCode}
	var body apiError
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err == nil {
		se.Code, se.Message = body.Code, body.Message
	}
	return se
}

// Do sends one request to the masters, in order, until one answers: a
// master that cannot be reached or answers 5xx (not leading yet, behind,
// failing) is skipped for the next. body, when not nil, is sent as JSON; a
// 2xx answer is decoded into out when out is not nil. Other answers are
// returned as a *StatusError from the first master that gave one, or the
// last master's if all failed.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		payload = b
	}
	var errs []error
	for _, base := range c.urls {
		err := c.do(ctx, base, method, path, payload, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *StatusError
		if errors.As(err, &se) && se.StatusCode < 500 {
			return err
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%s %s: no master answered: %w", method, path, errors.Join(errs...))
}

func (c *Client) do(ctx context.Context, base, method, path string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, base, path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, base, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readStatusError(base+path, resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s%s: decode answer: %w", method, base, path, err)
	}
	return nil
}
