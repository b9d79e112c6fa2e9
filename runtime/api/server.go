package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/raftstore"
)

// Reader is the part of *raftstore.Store the server reads from.
type Reader interface {
	Get(kind, key string) (raftstore.Object, bool)
	List(kind string) []raftstore.Object
	Index() uint64
	Watch(fromIndex uint64) *raftstore.Watcher
	WaitIndex(ctx context.Context, index uint64) error
}

// ServerOptions configures NewServer.
type ServerOptions struct {
	// Store is the local replica. Required.
	Store Reader
	// TokenFile holds the bearer token every request must carry, read once
	// by NewServer (surrounding white space is ignored). Empty disables
	// authentication.
	TokenFile string
	// Logger is the server's logger; nil discards logs.
	Logger *zap.Logger
	// HeartbeatInterval (10s) is how long a watch stream may stay silent
	// before the server writes a heartbeat line.
	HeartbeatInterval time.Duration
	// CatchUpTimeout (5s) bounds the wait of a master that is behind a
	// watching client's revision.
	CatchUpTimeout time.Duration
	// WriteTimeout (30s) bounds the write of one watch line, so a client
	// that stops reading does not hold a stream forever.
	WriteTimeout time.Duration
}

// Server is the http.Handler of the cluster API.
type Server struct {
	store     Reader
	token     []byte
	log       *zap.Logger
	heartbeat time.Duration
	catchUp   time.Duration
	writeTO   time.Duration
	mux       *http.ServeMux
}

// NewServer returns the API handler. It fails when the token file cannot be
// read or is empty.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("new api server: no store")
	}
	s := &Server{
		store:     opts.Store,
		log:       opts.Logger,
		heartbeat: cmpOr(opts.HeartbeatInterval, 10*time.Second),
		catchUp:   cmpOr(opts.CatchUpTimeout, 5*time.Second),
		writeTO:   cmpOr(opts.WriteTimeout, 30*time.Second),
		mux:       http.NewServeMux(),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if opts.TokenFile != "" {
		b, err := os.ReadFile(opts.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("read api token: %w", err)
		}
		s.token = bytes.TrimSpace(b)
		if len(s.token) == 0 {
			return nil, fmt.Errorf("read api token: %s is empty", opts.TokenFile)
		}
	}
	s.mux.HandleFunc("GET /v1/objects/{kind}", s.list)
	s.mux.HandleFunc("GET /v1/objects/{kind}/{key...}", s.get)
	s.mux.HandleFunc("GET /v1/watch", s.watch)
	return s, nil
}

// Handle registers h for pattern (http.ServeMux syntax) behind the server's
// authentication, beside the object and watch endpoints: the master mounts
// its agent, VIP, status and raft endpoints this way. Register every route
// before serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// WriteJSON writes v as the JSON body of a response with status, the way
// every endpoint of the cluster API answers.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// WriteError writes the cluster API's error body {"code", "message"} with
// status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	writeError(w, status, code, msg)
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ServeHTTP authenticates the request and serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.token != nil {
		want := append([]byte("Bearer "), s.token...)
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mesosnet"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Code: "internal", Message: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ListResponse is the body of GET /v1/objects/{kind}.
type ListResponse struct {
	// Revision is the raft index the objects are at: watch from it to
	// follow the changes after the list.
	Revision uint64             `json:"revision"`
	Objects  []raftstore.Object `json:"objects"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	// Index and List are separate reads: retry until no entry was applied
	// in between, so the revision is exactly the state of the objects.
	var resp ListResponse
	for range 10 {
		resp.Revision = s.store.Index()
		resp.Objects = s.store.List(kind)
		if s.store.Index() == resp.Revision {
			break
		}
	}
	if resp.Objects == nil {
		resp.Objects = []raftstore.Object{}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	kind, key := r.PathValue("kind"), r.PathValue("key")
	obj, ok := s.store.Get(kind, key)
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("%s %q not found", kind, key))
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// watchQuery parses the query of GET /v1/watch.
func watchQuery(q url.Values) (rev uint64, kind string, err error) {
	for name, vs := range q {
		switch name {
		case "revision", "kind":
			if len(vs) != 1 {
				return 0, "", fmt.Errorf("parameter %s: given %d times", name, len(vs))
			}
		default:
			return 0, "", fmt.Errorf("parameter %s: unknown", name)
		}
	}
	if v := q.Get("revision"); v != "" || q.Has("revision") {
		rev, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, "", fmt.Errorf("parameter revision: %q is not a raft index", v)
		}
	}
	if q.Has("kind") {
		kind = q.Get("kind")
		if kind == "" {
			return 0, "", errors.New("parameter kind: empty")
		}
	}
	return rev, kind, nil
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	rev, kind, err := watchQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "badRequest", err.Error())
		return
	}
	ctx := r.Context()
	if rev > s.store.Index() {
		wctx, cancel := context.WithTimeout(ctx, s.catchUp)
		err := s.store.WaitIndex(wctx, rev)
		cancel()
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "behind",
				fmt.Sprintf("this master has applied %d, behind revision %d", s.store.Index(), rev))
			return
		}
	}
	watcher := s.store.Watch(rev)
	defer watcher.Close()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	log := s.log.With(zap.Uint64("revision", rev), zap.String("kind", kind), zap.String("remote", r.RemoteAddr))
	log.Debug("Started watch stream")
	err = s.stream(ctx, w, rc, watcher, kind, rev)
	log.Debug("Ended watch stream", zap.Error(err))
}

// stream writes watcher's events as lines until the client goes away, the
// store closes or a write fails. Heartbeats report covered, the raft index of
// the last event read from the watcher (rev before the first).
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, watcher *raftstore.Watcher, kind string, rev uint64) error {
	covered := rev
	write := func(e Event) error {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode watch event: %w", err)
		}
		// Not every ResponseWriter supports deadlines; then the server's
		// own WriteTimeout is all there is.
		_ = rc.SetWriteDeadline(time.Now().Add(s.writeTO))
		if _, err := w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("write watch event: %w", err)
		}
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("flush watch event: %w", err)
		}
		return nil
	}
	for {
		nctx, cancel := context.WithTimeout(ctx, s.heartbeat)
		e, err := watcher.Next(nctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil // the client went away
		case errors.Is(err, context.DeadlineExceeded):
			if err := write(Event{Type: EventHeartbeat, Revision: covered}); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("watch store: %w", err)
		}
		// The store pushes all events of an entry to a watcher at once, so
		// when Next times out with nothing to read, every entry up to the
		// last event read is complete and a heartbeat may cover it.
		covered = e.Index
		line, ok := toEvent(e, kind)
		if !ok {
			continue
		}
		if err := write(line); err != nil {
			return err
		}
	}
}

// toEvent converts a store event to a stream line, filtered to kind when it
// is not empty.
func toEvent(e raftstore.Event, kind string) (Event, bool) {
	switch e.Type {
	case raftstore.EventReset:
		objs := make([]raftstore.Object, 0, len(e.Objects))
		for _, o := range e.Objects {
			if kind == "" || o.Kind == kind {
				objs = append(objs, o)
			}
		}
		return Event{Type: EventReset, Revision: e.Index, Objects: objs}, true
	case raftstore.EventPut, raftstore.EventDelete:
		if kind != "" && e.Object.Kind != kind {
			return Event{}, false
		}
		obj := e.Object
		return Event{Type: EventType(e.Type), Revision: e.Index, Object: &obj, Prev: e.Prev}, true
	}
	return Event{}, false
}
