package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// ContentType is the media type of the Confluent Schema Registry API.
const ContentType = "application/vnd.schemaregistry.v1+json"

// maxBody bounds request bodies; schemas are small.
const maxBody = 8 << 20

// Handler serves Confluent Schema Registry's REST API over reg, so Confluent
// serializers and clients work unchanged. Mount it at the registry's base URL
// (for example with http.StripPrefix); authentication is the caller's.
func Handler(reg *Registry, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{reg: reg, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { h.reply(w, map[string]any{}) })
	mux.HandleFunc("GET /subjects", h.subjects)
	mux.HandleFunc("GET /subjects/{subject}/versions", h.versions)
	mux.HandleFunc("POST /subjects/{subject}/versions", h.register)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", h.version)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", h.versionSchema)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", h.referencedBy)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", h.deleteVersion)
	mux.HandleFunc("POST /subjects/{subject}", h.lookup)
	mux.HandleFunc("DELETE /subjects/{subject}", h.deleteSubject)
	mux.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, r *http.Request) { h.reply(w, Formats()) })
	mux.HandleFunc("GET /schemas/ids/{id}", h.schemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", h.schemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", h.idVersions)
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", h.idSubjects)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", h.compatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", h.compatibility)
	mux.HandleFunc("GET /config", h.getConfig)
	mux.HandleFunc("GET /config/{subject}", h.getConfig)
	mux.HandleFunc("PUT /config", h.putConfig)
	mux.HandleFunc("PUT /config/{subject}", h.putConfig)
	mux.HandleFunc("DELETE /config", h.deleteConfig)
	mux.HandleFunc("DELETE /config/{subject}", h.deleteConfig)
	mux.HandleFunc("GET /mode", h.getMode)
	mux.HandleFunc("GET /mode/{subject}", h.getMode)
	mux.HandleFunc("PUT /mode", h.putMode)
	mux.HandleFunc("PUT /mode/{subject}", h.putMode)
	mux.HandleFunc("DELETE /mode/{subject}", h.deleteMode)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			h.fail(w, r, &Error{Code: http.StatusNotFound, Message: "HTTP 404 Not Found"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type handler struct {
	reg *Registry
	log *slog.Logger
}

func (h *handler) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", ContentType)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type errorBody struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	status := e.Status()
	if status >= 500 {
		h.log.Error("schema registry request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{Code: e.Code, Message: e.Message})
}

func queryFlag(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			msg = "expected a JSON object"
			if te.Field != "" {
				msg = fmt.Sprintf("field %q: expected %s, got %s", te.Field, te.Type.Kind(), te.Value)
			}
		}
		return &Error{Code: http.StatusBadRequest, Message: "Invalid request body: " + msg}
	}
	return nil
}

// parseVersion reads a version path segment: a number or "latest".
func parseVersion(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return Latest, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, newErr(CodeInvalidVersion,
			"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return v, nil
}

func parseID(s string) (int, error) {
	id, err := strconv.Atoi(s)
	if err != nil || id <= 0 {
		return 0, newErr(CodeSchemaNotFound, "Schema %s not found", s)
	}
	return id, nil
}

func (h *handler) subjects(w http.ResponseWriter, r *http.Request) {
	out, err := h.reg.Subjects(r.Context(), r.URL.Query().Get("subjectPrefix"), queryFlag(r, "deleted"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, out)
}

func (h *handler) versions(w http.ResponseWriter, r *http.Request) {
	out, err := h.reg.Versions(r.Context(), r.PathValue("subject"), queryFlag(r, "deleted"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, out)
}

// registerRequest is the body of POST /subjects/{s}/versions.
type registerRequest struct {
	Schema
	ID      int `json:"id,omitempty"`
	Version int `json:"version,omitempty"`
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := validType(&req.Schema); err != nil {
		h.fail(w, r, err)
		return
	}
	id, err := h.reg.Register(r.Context(), r.PathValue("subject"), req.Schema,
		RegisterOptions{ID: req.ID, Version: req.Version})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, map[string]int{"id": id})
}

func validType(s *Schema) error {
	f, err := ParseFormat(string(s.Type))
	if err != nil {
		return errInvalidSchema(err)
	}
	s.Type = f
	if s.Schema == "" {
		return newErr(CodeInvalidSchema, "Invalid schema: the schema field is empty")
	}
	return nil
}

func (h *handler) version(w http.ResponseWriter, r *http.Request) {
	v, err := h.loadVersion(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, v)
}

func (h *handler) loadVersion(r *http.Request) (*Version, error) {
	ver, err := parseVersion(r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	return h.reg.Version(r.Context(), r.PathValue("subject"), ver, queryFlag(r, "deleted"))
}

func (h *handler) versionSchema(w http.ResponseWriter, r *http.Request) {
	v, err := h.loadVersion(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = io.WriteString(w, v.Schema.Schema)
}

func (h *handler) referencedBy(w http.ResponseWriter, r *http.Request) {
	v, err := h.loadVersion(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ids, err := h.reg.ReferencedBy(r.Context(), v.Subject, v.Version)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, ids)
}

func (h *handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	ver, err := parseVersion(r.PathValue("version"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.reg.DeleteVersion(r.Context(), r.PathValue("subject"), ver, queryFlag(r, "permanent"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, v)
}

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) {
	var req Schema
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := validType(&req); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.reg.Lookup(r.Context(), r.PathValue("subject"), req, queryFlag(r, "deleted"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, v)
}

func (h *handler) deleteSubject(w http.ResponseWriter, r *http.Request) {
	out, err := h.reg.DeleteSubject(r.Context(), r.PathValue("subject"), queryFlag(r, "permanent"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, out)
}

func (h *handler) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s, err := h.reg.SchemaByID(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/schema") {
		w.Header().Set("Content-Type", ContentType)
		_, _ = io.WriteString(w, s.Schema.Schema)
		return
	}
	h.reply(w, s.Schema)
}

func (h *handler) idVersions(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.reg.VersionsOfID(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, out)
}

func (h *handler) idSubjects(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vs, err := h.reg.VersionsOfID(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []string{}
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	h.reply(w, out)
}

// compatibilityResponse is Confluent's answer to a compatibility check.
type compatibilityResponse struct {
	Compatible bool `json:"is_compatible"`
	// Messages is set only for ?verbose=true; an interface so that an
	// empty list still shows as [] there.
	Messages any `json:"messages,omitempty"`
}

func (h *handler) compatibility(w http.ResponseWriter, r *http.Request) {
	ver := 0
	if s := r.PathValue("version"); s != "" {
		var err error
		if ver, err = parseVersion(s); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	var req Schema
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := validType(&req); err != nil {
		h.fail(w, r, err)
		return
	}
	reasons, err := h.reg.CheckCompatibility(r.Context(), r.PathValue("subject"), ver, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := compatibilityResponse{Compatible: len(reasons) == 0}
	if queryFlag(r, "verbose") {
		if reasons == nil {
			reasons = []string{}
		}
		resp.Messages = reasons
	}
	h.reply(w, resp)
}

func (h *handler) getConfig(w http.ResponseWriter, r *http.Request) {
	level, err := h.reg.Compatibility(r.Context(), r.PathValue("subject"), queryFlag(r, "defaultToGlobal"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, map[string]Level{"compatibilityLevel": level})
}

func (h *handler) putConfig(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	level, err := ParseLevel(req.Compatibility)
	if err == nil {
		err = h.reg.SetCompatibility(r.Context(), r.PathValue("subject"), level)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, map[string]Level{"compatibility": level})
}

func (h *handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	level, err := h.reg.DeleteCompatibility(r.Context(), subject)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, map[string]Level{"compatibilityLevel": level})
}

func (h *handler) getMode(w http.ResponseWriter, r *http.Request) {
	mode, err := h.reg.Mode(r.Context(), r.PathValue("subject"), queryFlag(r, "defaultToGlobal"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, modeDoc{Mode: mode})
}

func (h *handler) putMode(w http.ResponseWriter, r *http.Request) {
	var req modeDoc
	if err := decodeBody(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	mode, err := ParseMode(string(req.Mode))
	if err == nil {
		err = h.reg.SetMode(r.Context(), r.PathValue("subject"), mode, queryFlag(r, "force"))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, modeDoc{Mode: mode})
}

func (h *handler) deleteMode(w http.ResponseWriter, r *http.Request) {
	mode, err := h.reg.DeleteMode(r.Context(), r.PathValue("subject"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, modeDoc{Mode: mode})
}
