package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/braidhq/braid/connectors/sdk"
)

func (s *Server) pluginRoutes() {
	s.mux.HandleFunc("GET /connector-plugins", s.listPlugins)
	s.mux.HandleFunc("GET /connector-plugins/{type}/config", s.pluginConfig)
	s.mux.HandleFunc("PUT /connector-plugins/{type}/config/validate", s.validate)
}

// PluginInfo is one entry of GET /connector-plugins; Class is the type name
// pipeline files use.
type PluginInfo struct {
	Class   string   `json:"class"`
	Type    sdk.Kind `json:"type"`
	Version string   `json:"version"`
	Summary string   `json:"summary,omitempty"`
}

func (s *Server) listPlugins(w http.ResponseWriter, _ *http.Request) {
	out := []PluginInfo{}
	for _, p := range s.plugins() {
		out = append(out, PluginInfo{Class: p.Spec.Name, Type: p.Spec.Kind, Version: p.Spec.Version, Summary: p.Spec.Summary})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].Type < out[j].Type
	})
	writeJSON(w, http.StatusOK, out)
}

// lookupPlugin finds {type} of the given kind; kind may be empty when the
// type names only one plugin.
func (s *Server) lookupPlugin(typ string, kind sdk.Kind) (sdk.Plugin, error) {
	if kind != "" {
		if p, ok := s.plugins().Lookup(kind, typ); ok {
			return p, nil
		}
		return sdk.Plugin{}, fmt.Errorf("%w: no %s connector type named %q", errNotFound, kind, typ)
	}
	src, isSource := s.plugins().Lookup(sdk.KindSource, typ)
	sink, isSink := s.plugins().Lookup(sdk.KindSink, typ)
	switch {
	case isSource && isSink:
		return sdk.Plugin{}, flatError{keyKind, fmt.Sprintf("%q is both a source and a sink; add ?kind=source or ?kind=sink", typ)}
	case isSource:
		return src, nil
	case isSink:
		return sink, nil
	}
	return sdk.Plugin{}, fmt.Errorf("%w: no connector type named %q (GET /connector-plugins lists them)", errNotFound, typ)
}

var errNotFound = errors.New("not found")

// ConfigKey describes one setting, as Kafka Connect's ConfigKeyInfo does.
type ConfigKey struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  any      `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         string   `json:"group"`
	Secret        bool     `json:"secret,omitempty"`
	Enum          []string `json:"enum,omitempty"`
	Example       string   `json:"example,omitempty"`
}

func configKeys(spec sdk.Spec) []ConfigKey {
	out := make([]ConfigKey, 0, len(spec.Fields))
	for _, f := range spec.Fields {
		imp := "MEDIUM"
		if f.Required {
			imp = "HIGH"
		}
		out = append(out, ConfigKey{Name: f.Name, Type: string(f.Type), Required: f.Required, DefaultValue: f.Default,
			Importance: imp, Documentation: f.Doc, Group: "Common", Secret: f.Secret, Enum: f.Enum, Example: f.Example})
	}
	return out
}

func (s *Server) pluginConfig(w http.ResponseWriter, r *http.Request) {
	p, err := s.lookupPlugin(r.PathValue("type"), sdk.Kind(r.URL.Query().Get("kind")))
	if err != nil {
		s.pluginError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, configKeys(p.Spec))
}

func (s *Server) pluginError(w http.ResponseWriter, err error) {
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	writeError(w, http.StatusBadRequest, "%v", err)
}

// Validation is Kafka Connect's ConfigInfos.
type Validation struct {
	Name       string         `json:"name"`
	ErrorCount int            `json:"error_count"`
	Groups     []string       `json:"groups"`
	Configs    []ConfigResult `json:"configs"`
}

// ConfigResult is one setting's definition and checked value.
type ConfigResult struct {
	Definition *ConfigKey  `json:"definition"`
	Value      ConfigValue `json:"value"`
}

// ConfigValue is a setting's value (secrets hidden) and its errors.
type ConfigValue struct {
	Name              string   `json:"name"`
	Value             any      `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// validate checks a flat config against the worker's rules and the
// plugin's spec, reporting every mistake by setting.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	var flat map[string]any
	if !readJSON(w, r, &flat) {
		return
	}
	typ := r.PathValue("type")
	if c := scalar(flat[keyConnector]); c == "" && scalar(flat[keyClass]) == "" {
		flat[keyConnector] = typ
	} else if c != "" && c != typ {
		writeError(w, http.StatusBadRequest, "connector: %q in the body differs from %q in the path", c, typ)
		return
	}
	kind := sdk.Kind(r.URL.Query().Get("kind"))
	if kind == "" {
		kind = sdk.Kind(scalar(flat[keyKind]))
	}
	p, err := s.lookupPlugin(typ, kind)
	if err != nil {
		s.pluginError(w, err)
		return
	}
	flat[keyKind] = string(p.Spec.Kind)
	name := scalar(flat[keyName])
	if name == "" {
		name = "validate"
	}
	errs := map[string][]string{}
	cfg, err := fromFlat(name, flat, s.plugins())
	secrets := secretValues(cfg, s.plugins())
	var fe flatError
	var settingErrs *sdk.ConfigError
	if errors.As(err, &fe) {
		errs[fe.Key] = append(errs[fe.Key], scrub(fe.Msg, secrets))
	} else if errors.As(err, &settingErrs) {
		for _, e := range settingErrs.Errors { // the worker's settings
			errs[e.Field] = append(errs[e.Field], scrub(e.Message, secrets))
		}
	} else if err := cfg.Validate(); err != nil {
		errs[keyName] = append(errs[keyName], scrub(err.Error(), secrets))
	}
	if cfg.Kind != "" {
		var ce *sdk.ConfigError
		if _, err := p.Spec.Validate(cfg.Config); errors.As(err, &ce) {
			for _, e := range ce.Errors {
				errs[e.Field] = append(errs[e.Field], scrub(e.Message, secrets))
			}
		}
		if errors.As(s.confine(cfg), &ce) {
			for _, e := range ce.Errors {
				errs[e.Field] = append(errs[e.Field], e.Message)
			}
		}
	}
	writeJSON(w, http.StatusOK, validation(p.Spec, cfg.Config, errs))
}

func validation(spec sdk.Spec, raw map[string]any, errs map[string][]string) Validation {
	shown := spec.Redact(raw)
	v := Validation{Name: spec.Name, Groups: []string{"Common"}, Configs: []ConfigResult{}}
	seen := map[string]bool{}
	add := func(def *ConfigKey, name string) {
		seen[name] = true
		e := errs[name]
		if e == nil {
			e = []string{}
		}
		v.ErrorCount += len(e)
		v.Configs = append(v.Configs, ConfigResult{Definition: def,
			Value: ConfigValue{Name: name, Value: shown[name], RecommendedValues: []string{}, Errors: e, Visible: true}})
	}
	for _, k := range configKeys(spec) {
		add(&k, k.Name)
	}
	var rest []string
	for name := range errs {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		add(nil, name)
	}
	return v
}
