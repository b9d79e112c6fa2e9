package raftstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/logging"
)

// Forwarder carries a follower's leader-only requests to the leader. The
// leader's side is Store.Handler (HTTP) or anything that calls the same
// operations. Errors must keep the store's sentinels: a *RejectedError for
// rejections, ErrNotLeader or ErrLeaderUnavailable when the request was not
// carried out (the store retries), ErrUnknownOutcome when it may have been.
type Forwarder interface {
	// Apply applies an encoded command on the leader.
	Apply(ctx context.Context, leader Peer, cmd []byte) (Result, error)
	// AddVoter adds p as a voter through the leader.
	AddVoter(ctx context.Context, leader Peer, p Peer) error
	// RemoveServer removes the server id through the leader.
	RemoveServer(ctx context.Context, leader Peer, id string) error
}

// Paths served by Store.Handler.
const (
	pathApply  = "/raft/apply"
	pathVoters = "/raft/voters"
)

// Handler serves the leader's side of HTTPForwarder:
//
//	POST   /raft/apply       body: an encoded command -> 200 Result as JSON
//	POST   /raft/voters      body: a Peer as JSON     -> 204
//	DELETE /raft/voters/{id}                          -> 204
//
// Errors are JSON {"code", "message", "rejected"?}. The handler never
// forwards again: a master that is not the leader answers "notLeader" and
// the caller retries. Mount it only where masters reach each other with
// authentication (mutual TLS): it writes anything a valid command can.
func (s *Store) Handler() http.Handler { return s.handler }

func (s *Store) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathApply, s.serveApply)
	mux.HandleFunc("POST "+pathVoters, s.serveAddVoter)
	mux.HandleFunc("DELETE "+pathVoters+"/{id}", s.serveRemoveServer)
	return mux
}

func (s *Store) serveApply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxCommandBytes)))
	if err != nil {
		writeError(w, fmt.Errorf("%w: read body: %w", ErrBadCommand, err))
		return
	}
	cmd, err := DecodeCommand(body)
	if err == nil {
		err = s.fsm.precheck(cmd)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// Propose the canonical encoding, not the caller's bytes.
	data, err := EncodeCommand(cmd)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.leaderReady(); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.applyLocal(r.Context(), data)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Store) serveAddVoter(w http.ResponseWriter, r *http.Request) {
	var p Peer
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeError(w, fmt.Errorf("%w: decode peer: %w", ErrBadCommand, err))
		return
	}
	if err := p.validate(); err != nil {
		writeError(w, fmt.Errorf("%w: %w", ErrBadCommand, err))
		return
	}
	if err := s.leaderReady(); err != nil {
		writeError(w, err)
		return
	}
	if err := s.addVoterLocal(r.Context(), p); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Store) serveRemoveServer(w http.ResponseWriter, r *http.Request) {
	if err := s.leaderReady(); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	if err := s.removeServerLocal(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// leaderReady returns nil when this master can take a leader-only request.
func (s *Store) leaderReady() error {
	if err := s.running(); err != nil {
		return fmt.Errorf("%w: %w", ErrLeaderUnavailable, err)
	}
	if err := s.fsm.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrLeaderUnavailable, err)
	}
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return nil
}

// Wire error codes.
const (
	codeRejected       = "rejected"
	codeBadCommand     = "badCommand"
	codeNotLeader      = "notLeader"
	codeUnavailable    = "unavailable"
	codeUnknownOutcome = "unknownOutcome"
)

// wireError is the JSON body of an error answer.
type wireError struct {
	Code     string         `json:"code"`
	Message  string         `json:"message"`
	Rejected *wireRejection `json:"rejected,omitempty"`
}

// wireRejection carries a *RejectedError.
type wireRejection struct {
	Op      string `json:"op"`
	OpIndex int    `json:"opIndex,omitempty"`
	Kind    string `json:"kind"`
	Key     string `json:"key"`
	Reason  Reason `json:"reason"`
	Cause   string `json:"cause"`
}

// toWire maps an error to its status and body.
func toWire(err error) (int, wireError) {
	var rej *RejectedError
	switch {
	case errors.As(err, &rej):
		status := http.StatusUnprocessableEntity
		if rej.Reason == ReasonConflict {
			status = http.StatusConflict
		}
		return status, wireError{Code: codeRejected, Message: err.Error(), Rejected: &wireRejection{
			Op: rej.Op, OpIndex: rej.OpIndex, Kind: rej.Kind, Key: rej.Key, Reason: rej.Reason, Cause: rej.Err.Error(),
		}}
	case errors.Is(err, ErrBadCommand):
		return http.StatusBadRequest, wireError{Code: codeBadCommand, Message: err.Error()}
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader):
		return http.StatusMisdirectedRequest, wireError{Code: codeNotLeader, Message: err.Error()}
	case errors.Is(err, ErrLeaderUnavailable), errors.Is(err, ErrClosed), errors.Is(err, ErrNotStarted):
		return http.StatusServiceUnavailable, wireError{Code: codeUnavailable, Message: err.Error()}
	default:
		// Anything else happened after the command may have been proposed.
		return http.StatusBadGateway, wireError{Code: codeUnknownOutcome, Message: err.Error()}
	}
}

// toError maps a wire error back, keeping the sentinels.
func (e wireError) toError() error {
	switch e.Code {
	case codeRejected:
		if r := e.Rejected; r != nil {
			return &RejectedError{Op: r.Op, OpIndex: r.OpIndex, Kind: r.Kind, Key: r.Key, Reason: r.Reason,
				Err: &remoteError{msg: r.Cause, is: r.Reason.sentinel()}}
		}
	case codeBadCommand:
		return &remoteError{msg: e.Message, is: ErrBadCommand}
	case codeNotLeader:
		return &remoteError{msg: e.Message, is: ErrNotLeader}
	case codeUnavailable:
		return &remoteError{msg: e.Message, is: ErrLeaderUnavailable}
	}
	return &remoteError{msg: e.Message, is: ErrUnknownOutcome}
}

func writeError(w http.ResponseWriter, err error) {
	status, body := toWire(err)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// HTTPForwarder is the Forwarder that calls Store.Handler on the leader's
// APIAddress. The zero value uses http.DefaultClient over plain HTTP.
type HTTPForwarder struct {
	// Client sends the requests; set its TLS configuration for https.
	Client *http.Client
	// Scheme is "http" (default) or "https".
	Scheme string
	// Logger, when set, logs each forwarded request at debug level.
	Logger *zap.Logger
}

var _ Forwarder = (*HTTPForwarder)(nil)

// Apply posts cmd to the leader's /raft/apply.
func (f *HTTPForwarder) Apply(ctx context.Context, leader Peer, cmd []byte) (Result, error) {
	body, err := f.do(ctx, leader, http.MethodPost, pathApply, "application/octet-stream", cmd)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := json.Unmarshal(body, &res); err != nil {
		return Result{}, fmt.Errorf("forward apply to %s: %w: decode result: %w", leader.ID, ErrUnknownOutcome, err)
	}
	return res, nil
}

// AddVoter posts p to the leader's /raft/voters.
func (f *HTTPForwarder) AddVoter(ctx context.Context, leader Peer, p Peer) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("forward add voter to %s: %w", leader.ID, err)
	}
	_, err = f.do(ctx, leader, http.MethodPost, pathVoters, "application/json", b)
	return err
}

// RemoveServer deletes /raft/voters/{id} on the leader.
func (f *HTTPForwarder) RemoveServer(ctx context.Context, leader Peer, id string) error {
	_, err := f.do(ctx, leader, http.MethodDelete, pathVoters+"/"+url.PathEscape(id), "", nil)
	return err
}

func (f *HTTPForwarder) do(ctx context.Context, leader Peer, method, path, contentType string, body []byte) ([]byte, error) {
	op := fmt.Sprintf("forward %s %s to %s", method, path, leader.ID)
	if leader.APIAddress == "" {
		return nil, fmt.Errorf("%s: %w: no API address known for it", op, ErrLeaderUnavailable)
	}
	scheme := f.Scheme
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: leader.APIAddress, Path: path}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	if f.Logger != nil {
		f.Logger.Debug("Forwarded a request to the raft leader", logging.Peer(leader.ID))
	}
	resp, err := client.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			// Nothing was sent.
			return nil, fmt.Errorf("%s: %w: %w", op, ErrLeaderUnavailable, err)
		}
		return nil, fmt.Errorf("%s: %w: %w", op, ErrUnknownOutcome, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: read answer: %w", op, ErrUnknownOutcome, err)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	var we wireError
	if err := json.Unmarshal(b, &we); err != nil || we.Code == "" {
		return nil, fmt.Errorf("%s: %w: status %d", op, ErrUnknownOutcome, resp.StatusCode)
	}
	err = we.toError()
	if rej := (*RejectedError)(nil); errors.As(err, &rej) {
		// Rejections read the same as on the leader.
		return nil, rej
	}
	return nil, fmt.Errorf("%s: %w", op, err)
}
