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
	handle := func(pattern string, fn func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := fn(r)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			h.reply(w, v)
		})
	}
	handle("GET /{$}", func(*http.Request) (any, error) { return map[string]any{}, nil })
	handle("GET /subjects", h.subjects)
	handle("GET /subjects/{subject}/versions", h.versions)
	handle("POST /subjects/{subject}/versions", h.register)
	handle("GET /subjects/{subject}/versions/{version}", h.version)
	handle("GET /subjects/{subject}/versions/{version}/schema", h.versionSchema)
	handle("GET /subjects/{subject}/versions/{version}/referencedby", h.referencedBy)
	handle("DELETE /subjects/{subject}/versions/{version}", h.deleteVersion)
	handle("POST /subjects/{subject}", h.lookup)
	handle("DELETE /subjects/{subject}", h.deleteSubject)
	handle("GET /schemas/types", func(*http.Request) (any, error) { return Formats(), nil })
	handle("GET /schemas/ids/{id}", h.schemaByID)
	handle("GET /schemas/ids/{id}/schema", h.schemaByID)
	handle("GET /schemas/ids/{id}/versions", h.idVersions)
	handle("GET /schemas/ids/{id}/subjects", h.idSubjects)
	handle("POST /compatibility/subjects/{subject}/versions/{version}", h.compatibility)
	handle("POST /compatibility/subjects/{subject}/versions", h.compatibility)
	for _, p := range []string{"/config", "/config/{subject}"} {
		handle("GET "+p, h.getConfig)
		handle("PUT "+p, h.putConfig)
		handle("DELETE "+p, h.deleteConfig)
	}
	handle("GET /mode", h.getMode)
	handle("GET /mode/{subject}", h.getMode)
	handle("PUT /mode", h.putMode)
	handle("PUT /mode/{subject}", h.putMode)
	handle("DELETE /mode/{subject}", h.deleteMode)
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
	if raw, ok := v.(rawSchema); ok {
		_, _ = io.WriteString(w, string(raw))
		return
	}
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

func (h *handler) subjects(r *http.Request) (any, error) {
	return h.reg.Subjects(r.Context(), r.URL.Query().Get("subjectPrefix"), queryFlag(r, "deleted"))
}

func (h *handler) versions(r *http.Request) (any, error) {
	return h.reg.Versions(r.Context(), r.PathValue("subject"), queryFlag(r, "deleted"))
}

// registerRequest is the body of POST /subjects/{s}/versions.
type registerRequest struct {
	Schema
	ID      int `json:"id,omitempty"`
	Version int `json:"version,omitempty"`
}

func (h *handler) register(r *http.Request) (any, error) {
	var req registerRequest
	if err := decodeSchema(r, &req, &req.Schema); err != nil {
		return nil, err
	}
	id, err := h.reg.Register(r.Context(), r.PathValue("subject"), req.Schema,
		RegisterOptions{ID: req.ID, Version: req.Version})
	if err != nil {
		return nil, err
	}
	return map[string]int{"id": id}, nil
}

// decodeSchema reads a request body into v and validates its schema s.
func decodeSchema(r *http.Request, v any, s *Schema) error {
	if err := decodeBody(r, v); err != nil {
		return err
	}
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

func (h *handler) version(r *http.Request) (any, error) {
	ver, err := parseVersion(r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	return h.reg.Version(r.Context(), r.PathValue("subject"), ver, queryFlag(r, "deleted"))
}

// rawSchema is an answer written as the schema text itself.
type rawSchema string

func (h *handler) versionSchema(r *http.Request) (any, error) {
	v, err := h.version(r)
	if err != nil {
		return nil, err
	}
	return rawSchema(v.(*Version).Schema.Schema), nil
}

func (h *handler) referencedBy(r *http.Request) (any, error) {
	v, err := h.version(r)
	if err != nil {
		return nil, err
	}
	return h.reg.ReferencedBy(r.Context(), v.(*Version).Subject, v.(*Version).Version)
}

func (h *handler) deleteVersion(r *http.Request) (any, error) {
	ver, err := parseVersion(r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	return h.reg.DeleteVersion(r.Context(), r.PathValue("subject"), ver, queryFlag(r, "permanent"))
}

func (h *handler) lookup(r *http.Request) (any, error) {
	var req Schema
	if err := decodeSchema(r, &req, &req); err != nil {
		return nil, err
	}
	return h.reg.Lookup(r.Context(), r.PathValue("subject"), req, queryFlag(r, "deleted"))
}

func (h *handler) deleteSubject(r *http.Request) (any, error) {
	return h.reg.DeleteSubject(r.Context(), r.PathValue("subject"), queryFlag(r, "permanent"))
}

func (h *handler) schemaByID(r *http.Request) (any, error) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	s, err := h.reg.SchemaByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(r.URL.Path, "/schema") {
		return rawSchema(s.Schema.Schema), nil
	}
	return s.Schema, nil
}

func (h *handler) idVersions(r *http.Request) (any, error) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return h.reg.VersionsOfID(r.Context(), id)
}

func (h *handler) idSubjects(r *http.Request) (any, error) {
	vs, err := h.idVersions(r)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, v := range vs.([]SubjectVersion) {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	return out, nil
}

// compatibilityResponse is Confluent's answer to a compatibility check.
type compatibilityResponse struct {
	Compatible bool `json:"is_compatible"`
	// Messages is set only for ?verbose=true; an interface so that an
	// empty list still shows as [] there.
	Messages any `json:"messages,omitempty"`
}

func (h *handler) compatibility(r *http.Request) (any, error) {
	ver := 0
	if s := r.PathValue("version"); s != "" {
		var err error
		if ver, err = parseVersion(s); err != nil {
			return nil, err
		}
	}
	var req Schema
	if err := decodeSchema(r, &req, &req); err != nil {
		return nil, err
	}
	reasons, err := h.reg.CheckCompatibility(r.Context(), r.PathValue("subject"), ver, req)
	if err != nil {
		return nil, err
	}
	resp := compatibilityResponse{Compatible: len(reasons) == 0}
	if queryFlag(r, "verbose") {
		if reasons == nil {
			reasons = []string{}
		}
		resp.Messages = reasons
	}
	return resp, nil
}

func (h *handler) getConfig(r *http.Request) (any, error) {
	level, err := h.reg.Compatibility(r.Context(), r.PathValue("subject"), queryFlag(r, "defaultToGlobal"))
	return map[string]Level{"compatibilityLevel": level}, err
}

func (h *handler) putConfig(r *http.Request) (any, error) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	level, err := ParseLevel(req.Compatibility)
	if err == nil {
		err = h.reg.SetCompatibility(r.Context(), r.PathValue("subject"), level)
	}
	return map[string]Level{"compatibility": level}, err
}

func (h *handler) deleteConfig(r *http.Request) (any, error) {
	level, err := h.reg.DeleteCompatibility(r.Context(), r.PathValue("subject"))
	return map[string]Level{"compatibilityLevel": level}, err
}

func (h *handler) getMode(r *http.Request) (any, error) {
	mode, err := h.reg.Mode(r.Context(), r.PathValue("subject"), queryFlag(r, "defaultToGlobal"))
	return modeDoc{Mode: mode}, err
}

func (h *handler) putMode(r *http.Request) (any, error) {
	var req modeDoc
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	mode, err := ParseMode(string(req.Mode))
	if err == nil {
		err = h.reg.SetMode(r.Context(), r.PathValue("subject"), mode, queryFlag(r, "force"))
	}
	return modeDoc{Mode: mode}, err
}

func (h *handler) deleteMode(r *http.Request) (any, error) {
	mode, err := h.reg.DeleteMode(r.Context(), r.PathValue("subject"))
	return modeDoc{Mode: mode}, err
}
