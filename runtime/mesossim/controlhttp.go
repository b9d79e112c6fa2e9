package mesossim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/mesos/mesos-go/api/v1/lib/master"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/mesossim/mesosjson"
)

// controlRoutes registers the /sim/v1/ control API (see the package
// documentation).
func (s *Server) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/v1/state", s.handleState)
	m.HandleFunc("POST /sim/v1/agents", s.handleAddAgent)
	m.HandleFunc("DELETE /sim/v1/agents/{id}", s.handleRemoveAgent)
	m.HandleFunc("POST /sim/v1/frameworks", s.handleAddFramework)
	m.HandleFunc("PUT /sim/v1/frameworks/{id}", s.handleUpdateFramework)
	m.HandleFunc("DELETE /sim/v1/frameworks/{id}", s.handleRemoveFramework)
	m.HandleFunc("POST /sim/v1/tasks", s.handleLaunchTask)
	m.HandleFunc("POST /sim/v1/tasks/{id}/status", s.handleTaskStatus)
	m.HandleFunc("DELETE /sim/v1/tasks/{id}", s.handleKillTask)
	m.HandleFunc("POST /sim/v1/events", s.handlePublish)
}

func jsonError(w http.ResponseWriter, code int, err error) {
	body, _ := json.Marshal(map[string]string{"error": err.Error()})
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// fail maps control errors to HTTP statuses: 400 for invalid requests, 404
// for unknown objects, 409 for duplicates.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var spec *SpecError
	switch {
	case errors.As(err, &spec):
		jsonError(w, http.StatusBadRequest, err)
	case errors.Is(err, ErrNotFound):
		jsonError(w, http.StatusNotFound, err)
	case errors.Is(err, ErrConflict):
		jsonError(w, http.StatusConflict, err)
	default:
		s.log.Error("Control request failed", zap.Error(err))
		jsonError(w, http.StatusInternalServerError, err)
	}
}

// reply writes a Mesos JSON object.
func (s *Server) reply(w http.ResponseWriter, code int, m any) {
	body, err := mesosjson.Marshal(m)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// decodeSpec reads a strict JSON request body into v, reporting the field
// at fault.
func decodeSpec(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return specErr("body", "read: %v", err)
	}
	if len(body) > maxRequestBody {
		return specErr("body", "larger than %d bytes", maxRequestBody)
	}
	return decodeStrict(body, v)
}

func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return specErr("body", "empty; want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &typ) && typ.Field != "":
			return specErr(typ.Field, "want %s, got %s", typ.Type, typ.Value)
		case errors.As(err, &typ):
			return specErr("body", "want a JSON object, got %s", typ.Value)
		case errors.As(err, &syn):
			return specErr("body", "invalid JSON at offset %d: %v", syn.Offset, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return specErr("body", "invalid JSON: unexpected end of input")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return specErr(field, "unknown field")
		default:
			return specErr("body", "%v", err)
		}
	}
	if dec.More() {
		return specErr("body", "unexpected data after the JSON object")
	}
	return nil
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, err := mesosjson.Marshal(&master.Response{Type: master.Response_GET_STATE, GetState: s.c.state()})
	s.mu.Unlock()
	if err != nil {
		s.fail(w, err)
		return
	}
	writeBody(w, mediaJSON, body)
}

func (s *Server) handleAddAgent(w http.ResponseWriter, r *http.Request) {
	var spec AgentSpec
	if err := decodeSpec(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	agent, err := s.AddAgent(spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("Added agent", zap.String("agentID", agent.AgentInfo.GetID().GetValue()))
	s.reply(w, http.StatusCreated, &agent)
}

func (s *Server) handleRemoveAgent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.RemoveAgent(id); err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("Removed agent", zap.String("agentID", id))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAddFramework(w http.ResponseWriter, r *http.Request) {
	var spec FrameworkSpec
	if err := decodeSpec(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	fw, err := s.AddFramework(spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("Added framework", zap.String("frameworkID", fw.FrameworkInfo.GetID().GetValue()))
	s.reply(w, http.StatusCreated, &fw)
}

func (s *Server) handleUpdateFramework(w http.ResponseWriter, r *http.Request) {
	var spec FrameworkSpec
	if err := decodeSpec(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	fw, err := s.UpdateFramework(r.PathValue("id"), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, &fw)
}

func (s *Server) handleRemoveFramework(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.RemoveFramework(id); err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("Removed framework", zap.String("frameworkID", id))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleLaunchTask(w http.ResponseWriter, r *http.Request) {
	var spec TaskSpec
	if err := decodeSpec(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	task, err := s.LaunchTask(spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("Launched task", zap.String("taskID", task.TaskID.Value), zap.String("agentID", task.AgentID.Value))
	s.reply(w, http.StatusCreated, &task)
}

func (s *Server) handleTaskStatus(w http.ResponseWriter, r *http.Request) {
	var spec StatusSpec
	if err := decodeSpec(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	task, err := s.UpdateTaskStatus(r.PathValue("id"), r.URL.Query().Get("framework"), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reply(w, http.StatusOK, &task)
}

func (s *Server) handleKillTask(w http.ResponseWriter, r *http.Request) {
	task, err := s.KillTask(r.PathValue("id"), r.URL.Query().Get("framework"))
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("Killed task", zap.String("taskID", task.TaskID.Value))
	s.reply(w, http.StatusOK, &task)
}

func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		s.fail(w, specErr("body", "read: %v", err))
		return
	}
	var ev master.Event
	if err := decodeV1(body, &ev, "$"); err != nil {
		s.fail(w, specErr("body", "%v", err))
		return
	}
	if err := s.Publish(&ev); err != nil {
		s.fail(w, specErr("body", "%v", err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
