package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/worker"
)

func (s *Server) connectorRoutes() {
	m := s.mux
	m.HandleFunc("GET /connectors", s.listConnectors)
	m.HandleFunc("POST /connectors", s.createConnector)
	m.HandleFunc("GET /connectors/{name}", s.getConnector)
	m.HandleFunc("DELETE /connectors/{name}", s.deleteConnector)
	m.HandleFunc("GET /connectors/{name}/config", s.getConfig)
	m.HandleFunc("PUT /connectors/{name}/config", s.putConfig)
	m.HandleFunc("GET /connectors/{name}/status", s.getStatus)
	m.HandleFunc("GET /connectors/{name}/tasks", s.getTasks)
	m.HandleFunc("GET /connectors/{name}/tasks/{id}/status", s.getTaskStatus)
	m.HandleFunc("POST /connectors/{name}/tasks/{id}/restart", s.restartTask)
	m.HandleFunc("PUT /connectors/{name}/pause", s.pause)
	m.HandleFunc("PUT /connectors/{name}/resume", s.resume)
	m.HandleFunc("PUT /connectors/{name}/stop", s.stop)
	m.HandleFunc("POST /connectors/{name}/restart", s.restart)
	m.HandleFunc("GET /connectors/{name}/topics", s.getTopics)
	m.HandleFunc("GET /connectors/{name}/history", s.getHistory)
	m.HandleFunc("POST /connectors/{name}/snapshot", s.snapshot)
}

// SnapshotRequest is the body of POST /connectors/{name}/snapshot: the
// tables to read again (every captured table when empty).
type SnapshotRequest struct {
	Tables []string `json:"tables"`
}

// SnapshotAccepted answers it: the request's ID, which the connector's
// status shows once its source takes the request up.
type SnapshotAccepted struct {
	ID     uint64   `json:"id"`
	Tables []string `json:"tables"`
}

// snapshot queues an incremental snapshot of a source connector; its
// progress appears in the connector's status.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	var req SnapshotRequest
	if r.ContentLength != 0 && !readJSON(w, r, &req) {
		return
	}
	id, err := s.eng.Worker.Snapshot(r.Context(), r.PathValue("name"), req.Tables)
	if errors.Is(err, worker.ErrNoIncrementalSnapshot) {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	if req.Tables == nil {
		req.Tables = []string{}
	}
	writeJSON(w, http.StatusAccepted, SnapshotAccepted{ID: id, Tables: req.Tables})
}

// ConnectorInfo is Kafka Connect's connector description.
type ConnectorInfo struct {
	Name   string         `json:"name"`
	Config map[string]any `json:"config"`
	Tasks  []TaskID       `json:"tasks"`
	Type   sdk.Kind       `json:"type"`
}

// TaskID names one task.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// createRequest is POST /connectors' body.
type createRequest struct {
	Name   string         `json:"name"`
	Config map[string]any `json:"config"`
}

func (s *Server) plugins() sdk.Plugins { return s.eng.Worker.Plugins() }

func (s *Server) info(cfg worker.ConnectorConfig) ConnectorInfo {
	tasks := make([]TaskID, max(cfg.Tasks, 1))
	for i := range tasks {
		tasks[i] = TaskID{Connector: cfg.Name, Task: i}
	}
	return ConnectorInfo{Name: cfg.Name, Config: toFlat(cfg, s.plugins()), Tasks: tasks, Type: cfg.Kind}
}

// ConnectorStatus is Kafka Connect's status shape; Progress reports a
// running snapshot or backfill.
type ConnectorStatus struct {
	Name      string              `json:"name"`
	Connector ConnectorState      `json:"connector"`
	Tasks     []worker.TaskStatus `json:"tasks"`
	Type      sdk.Kind            `json:"type"`
	Progress  *sdk.Progress       `json:"progress,omitempty"`
}

// ConnectorState is the connector's own state.
type ConnectorState struct {
	State    worker.State `json:"state"`
	WorkerID string       `json:"worker_id"`
	Trace    string       `json:"trace,omitempty"`
}

// status returns a connector's status with secrets scrubbed from traces.
func (s *Server) status(name string) (ConnectorStatus, error) {
	st, err := s.eng.Worker.Status(name)
	if err != nil {
		return ConnectorStatus{}, err
	}
	cfg, err := s.eng.Worker.Config(name)
	if err != nil {
		return ConnectorStatus{}, err
	}
	secrets := secretValues(cfg, s.plugins())
	out := ConnectorStatus{Name: st.Name, Type: st.Type, Tasks: st.Tasks, Progress: st.Progress,
		Connector: ConnectorState{State: st.Connector.State, WorkerID: st.Connector.WorkerID, Trace: scrub(st.Connector.Trace, secrets)}}
	for i := range out.Tasks {
		out.Tasks[i].Trace = scrub(out.Tasks[i].Trace, secrets)
	}
	return out, nil
}

// secrets returns the secret values of every running connector.
func (s *Server) secrets() []string {
	out := []string{}
	for _, n := range s.eng.Worker.Names() {
		if cfg, err := s.eng.Worker.Config(n); err == nil {
			out = append(out, secretValues(cfg, s.plugins())...)
		}
	}
	return out
}

// fail answers with the status that fits err; secrets are scrubbed from its
// message.
func (s *Server) fail(w http.ResponseWriter, err error, secrets []string) {
	code := http.StatusInternalServerError
	var fe flatError
	switch {
	case errors.Is(err, worker.ErrNotFound):
		code = http.StatusNotFound
	case errors.As(err, &fe), errors.Is(err, sdk.ErrInvalidConfig):
		code = http.StatusBadRequest
	}
	msg := scrub(err.Error(), secrets)
	if code == http.StatusInternalServerError {
		s.logger.Error("api request failed", "err", msg)
	}
	writeError(w, code, "%s", msg)
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request) {
	names := s.eng.Worker.Names()
	expand := r.URL.Query()["expand"]
	if len(expand) == 0 {
		writeJSON(w, http.StatusOK, names)
		return
	}
	out := map[string]map[string]any{}
	for _, n := range names {
		e := map[string]any{}
		for _, x := range expand {
			switch x {
			case "status":
				if st, err := s.status(n); err == nil {
					e["status"] = st
				}
			case "info":
				if cfg, err := s.eng.Worker.Config(n); err == nil {
					e["info"] = s.info(cfg)
				}
			default:
				writeError(w, http.StatusBadRequest, "expand: %q is not status or info", x)
				return
			}
		}
		out[n] = e
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createConnector(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" {
		req.Name = scalar(req.Config[keyName])
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, "name: missing")
		return
	}
	if err := sdk.CheckName(keyName, req.Name); err != nil {
		s.fail(w, err, nil)
		return
	}
	if _, err := s.eng.Worker.Config(req.Name); err == nil {
		writeError(w, http.StatusConflict, "Connector %s already exists", req.Name)
		return
	}
	if n := scalar(req.Config[keyName]); n != "" && n != req.Name {
		writeError(w, http.StatusBadRequest, "config.name %q differs from name %q", n, req.Name)
		return
	}
	cfg, ok := s.put(w, r, req.Name, req.Config)
	if ok {
		writeJSON(w, http.StatusCreated, s.info(cfg))
	}
}

// put maps and starts a connector config, answering errors itself.
func (s *Server) put(w http.ResponseWriter, r *http.Request, name string, flat map[string]any) (worker.ConnectorConfig, bool) {
	if flat == nil {
		writeError(w, http.StatusBadRequest, "config: missing")
		return worker.ConnectorConfig{}, false
	}
	cfg, err := fromFlat(name, flat, s.plugins())
	if err == nil {
		err = s.confine(cfg)
	}
	if err == nil {
		s.opts.Levels.AddSecrets(secretValues(cfg, s.plugins())...)
		err = s.eng.Worker.Put(r.Context(), cfg)
	}
	if err != nil {
		s.fail(w, err, secretValues(cfg, s.plugins()))
		return cfg, false
	}
	s.logger.Info("connector configured through the API", "connector", name, "type", cfg.Plugin)
	cfg, _ = s.eng.Worker.Config(name)
	return cfg, true
}

func (s *Server) getConnector(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.eng.Worker.Config(r.PathValue("name"))
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, s.info(cfg))
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.Worker.Delete(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.eng.Worker.Config(r.PathValue("name"))
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, toFlat(cfg, s.plugins()))
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := sdk.CheckName(keyName, name); err != nil {
		s.fail(w, err, nil)
		return
	}
	var flat map[string]any
	if !readJSON(w, r, &flat) {
		return
	}
	if n := scalar(flat[keyName]); n != "" && n != name {
		writeError(w, http.StatusBadRequest, "name: %q in the body differs from %q in the path", n, name)
		return
	}
	_, err := s.eng.Worker.Config(name)
	created := errors.Is(err, worker.ErrNotFound)
	cfg, ok := s.put(w, r, name, flat)
	if !ok {
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, s.info(cfg))
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.status(r.PathValue("name"))
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// taskInfo is one entry of GET /connectors/{name}/tasks.
type taskInfo struct {
	ID     TaskID         `json:"id"`
	Config map[string]any `json:"config"`
}

func (s *Server) getTasks(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.eng.Worker.Config(r.PathValue("name"))
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	out := []taskInfo{}
	for _, id := range s.info(cfg).Tasks {
		flat := toFlat(cfg, s.plugins())
		flat["task.id"] = strconv.Itoa(id.Task)
		out = append(out, taskInfo{ID: id, Config: flat})
	}
	writeJSON(w, http.StatusOK, out)
}

// taskID reads the {id} path value, answering 404 when it names no task.
func (s *Server) taskID(w http.ResponseWriter, r *http.Request) (worker.TaskStatus, bool) {
	name := r.PathValue("name")
	st, err := s.status(name)
	if err != nil {
		s.fail(w, err, nil)
		return worker.TaskStatus{}, false
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	if err == nil {
		for _, t := range st.Tasks {
			if t.ID == id {
				return t, true
			}
		}
	}
	writeError(w, http.StatusNotFound, "Task %s-%s not found", name, r.PathValue("id"))
	return worker.TaskStatus{}, false
}

func (s *Server) getTaskStatus(w http.ResponseWriter, r *http.Request) {
	if t, ok := s.taskID(w, r); ok {
		writeJSON(w, http.StatusOK, t)
	}
}

func (s *Server) restartTask(w http.ResponseWriter, r *http.Request) {
	t, ok := s.taskID(w, r)
	if !ok {
		return
	}
	if err := s.eng.Worker.RestartTask(r.Context(), r.PathValue("name"), t.ID); err != nil {
		s.fail(w, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.Worker.Pause(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, err, nil)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.Worker.Resume(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, err, nil)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.Worker.Stop(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// restart restarts the connector's tasks: Braid has no connector instance
// apart from its tasks. Like Kafka Connect it answers 204 without query
// flags and 202 with the status when includeTasks or onlyFailed is set.
func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	includeTasks, err1 := boolParam(q.Get("includeTasks"))
	onlyFailed, err2 := boolParam(q.Get("onlyFailed"))
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	name := r.PathValue("name")
	if err := s.eng.Worker.Restart(r.Context(), name, onlyFailed); err != nil {
		s.fail(w, err, nil)
		return
	}
	if !includeTasks && !onlyFailed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	st, err := s.status(name)
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

func boolParam(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("query parameter: %q is not true or false", v)
	}
	return b, nil
}

func (s *Server) getTopics(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	cfg, err := s.eng.Worker.Config(name)
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	topics := append([]string{}, cfg.Topics...)
	if cfg.Topic != "" {
		topics = append(topics, cfg.Topic)
	}
	if d := cfg.Errors.DeadLetterTopic; d != "" && !strings.EqualFold(string(cfg.Errors.Tolerance), "none") {
		topics = append(topics, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{name: map[string]any{"topics": topics}})
}
