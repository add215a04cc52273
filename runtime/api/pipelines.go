package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"

	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
)

func (s *Server) pipelineRoutes() {
	s.mux.HandleFunc("GET /pipelines", s.getPipelines)
	s.mux.HandleFunc("PUT /pipelines", s.putPipelines)
	s.mux.HandleFunc("POST /pipelines/lint", s.lintPipeline)
}

// PipelineState is GET /pipelines: the applied pipeline (secrets hidden)
// and the outcome of the last apply or reload.
type PipelineState struct {
	Status   engine.Status       `json:"status"`
	Pipeline *pipelines.Pipeline `json:"pipeline"`
}

// ApplyResult is PUT /pipelines' answer.
type ApplyResult struct {
	DryRun  bool              `json:"dry_run"`
	Applied bool              `json:"applied"`
	Changes pipelines.Changes `json:"changes"`
	Diff    string            `json:"diff"`
}

// LintResult lists a pipeline file's problems.
type LintResult struct {
	errorBody
	Lints []pipelines.Lint `json:"lints"`
}

func (s *Server) getPipelines(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, PipelineState{Status: s.eng.Status(), Pipeline: s.eng.Current()})
}

// parseUpload reads a YAML pipeline from the body. Uploaded files may not
// read the server's files (${file:...}) and see only PipelineEnv.
func (s *Server) parseUpload(w http.ResponseWriter, r *http.Request) (*pipelines.Pipeline, bool) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "pipeline file is larger than %d bytes", pipelines.MaxFileSize)
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "read body: %v", err)
		return nil, false
	}
	name := path.Base(r.URL.Query().Get("file"))
	if name == "." || name == "/" {
		name = "pipeline.yaml"
	}
	p, lints := pipelines.ParseWith(name, data, s.eng.Catalog(), pipelines.Options{Env: s.opts.PipelineEnv})
	if len(lints) == 0 {
		lints = s.confinePipeline(name, p)
	}
	if len(lints) > 0 {
		writeJSON(w, http.StatusBadRequest, LintResult{
			errorBody: errorBody{Code: http.StatusBadRequest, Message: fmt.Sprintf("%s: %d problem(s); nothing applied", name, len(lints))},
			Lints:     lints,
		})
		return nil, false
	}
	return p, true
}

func (s *Server) putPipelines(w http.ResponseWriter, r *http.Request) {
	dryRun, err := boolParam(r.URL.Query().Get("dry_run"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "dry_run: %v", err)
		return
	}
	p, ok := s.parseUpload(w, r)
	if !ok {
		return
	}
	if !dryRun {
		s.opts.Levels.AddSecrets(PipelineSecrets(p)...)
	}
	changes, err := s.eng.Apply(r.Context(), p, dryRun)
	if err != nil {
		msg := err.Error()
		s.logger.Error("pipeline upload failed to apply", "pipeline", p.Name, "err", msg)
		writeError(w, http.StatusInternalServerError, "apply %s: %s", p.Name, msg)
		return
	}
	if !dryRun {
		s.logger.Info("pipeline applied through the API", "pipeline", p.Name, "changes", len(changes.Connectors)+len(changes.Topics))
	}
	writeJSON(w, http.StatusOK, ApplyResult{DryRun: dryRun, Applied: !dryRun, Changes: changes, Diff: changes.String()})
}

// lintPipeline checks a pipeline file without applying it: 200 with no
// lints, 400 with them.
func (s *Server) lintPipeline(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.parseUpload(w, r); ok {
		writeJSON(w, http.StatusOK, LintResult{errorBody: errorBody{Code: http.StatusOK, Message: "no problems"}, Lints: []pipelines.Lint{}})
	}
}
