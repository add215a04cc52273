package api

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/worker"
)

// Connectors created over the API run with the server's rights, so a file
// source there could read any file of the server (/etc/shadow, the token
// file, /proc/self/environ) and serve it at /topics/.../records. Settings a
// spec marks Path must therefore name a place inside an allowed directory
// (--allow-path). Pipeline files the operator runs with braid run -f are
// the operator's own and are not confined.

// neverAllowed are refused even inside an allowed directory: the kernel's
// views of processes and devices.
var neverAllowed = []string{"/proc", "/sys", "/dev"}

// pathRule confines the Path settings of connectors created over the API.
type pathRule struct {
	allow []string // absolute, symlinks resolved
	deny  []string
}

func newPathRule(allow, deny []string) (pathRule, error) {
	var r pathRule
	for _, d := range allow {
		abs, err := resolve(d)
		if err != nil {
			return r, fmt.Errorf("api: --allow-path %s: %w", d, err)
		}
		r.allow = append(r.allow, abs)
	}
	for _, d := range append(append([]string{}, neverAllowed...), deny...) {
		abs, err := filepath.Abs(d)
		if err != nil {
			return r, fmt.Errorf("api: refused path %s: %w", d, err)
		}
		r.deny = append(r.deny, abs)
		if real, err := resolve(d); err == nil && real != abs {
			r.deny = append(r.deny, real)
		}
	}
	return r, nil
}

// check returns one error per Path setting of raw that leaves the allowed
// directories. A value equal to the one in old (the connector's current
// settings, nil for a new connector) grants nothing new and passes.
func (r pathRule) check(spec sdk.Spec, raw, old map[string]any) []sdk.FieldError {
	var errs []sdk.FieldError
	for _, f := range spec.Fields {
		v, ok := raw[f.Name].(string)
		if !f.Path || !ok || v == "" {
			continue
		}
		if o, ok := old[f.Name].(string); ok && o == v {
			continue
		}
		if msg := r.refuse(v); msg != "" {
			errs = append(errs, sdk.FieldError{Field: f.Name, Message: msg})
		}
	}
	return errs
}

// refuse says why p may not be used, or "".
func (r pathRule) refuse(p string) string {
	given, err := filepath.Abs(staticPrefix(p))
	if err != nil {
		return fmt.Sprintf("%q: %v", p, err)
	}
	abs, err := resolve(given)
	if err != nil {
		return fmt.Sprintf("%q: %v", p, err)
	}
	for _, d := range r.deny {
		if within(abs, d) || within(given, d) {
			return fmt.Sprintf("%q is in %s, which connectors created over the API may never use", p, d)
		}
	}
	for _, d := range r.allow {
		if within(abs, d) {
			return ""
		}
	}
	return fmt.Sprintf("%q is outside the directories connectors created over the API may use (%s); "+
		"start braid with --allow-path DIR to allow another", p, strings.Join(r.allow, ", "))
}

// staticPrefix is the part of a glob before its first pattern character:
// every file the glob can match lies below it.
func staticPrefix(p string) string {
	p = filepath.Clean(p)
	i := strings.IndexAny(p, `*?[\`)
	if i < 0 {
		return p
	}
	return filepath.Dir(p[:i] + "x")
}

// resolve makes p absolute and resolves the symlinks of its longest
// existing ancestor, so a link inside an allowed directory cannot point
// out of it.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for dir := abs; ; dir = filepath.Dir(dir) {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || dir == filepath.Dir(dir) {
			return "", err
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// defaultAllowPaths is the working directory, used when Options names none.
func defaultAllowPaths() []string {
	if wd, err := os.Getwd(); err == nil {
		return []string{wd}
	}
	return nil
}

// confine checks the Path settings of a connector about to be put over the
// API against the allowed directories.
func (s *Server) confine(c worker.ConnectorConfig) error {
	plugin, _ := s.plugins().Lookup(c.Kind, c.Plugin)
	if errs := s.paths.check(plugin.Spec, c.Config, s.running(c.Name, c.Kind, c.Plugin)); len(errs) > 0 {
		return &sdk.ConfigError{Connector: c.Name, Errors: errs}
	}
	return nil
}

// running returns the settings the named connector runs with, when it is
// of the same type; nil otherwise.
func (s *Server) running(name string, kind sdk.Kind, plugin string) map[string]any {
	if cur, err := s.eng.Worker.Config(name); err == nil && cur.Kind == kind && cur.Plugin == plugin {
		return cur.Config
	}
	return nil
}

// confinePipeline checks the Path settings of an uploaded pipeline's
// connectors, as lints at each connector.
func (s *Server) confinePipeline(file string, p *pipelines.Pipeline) []pipelines.Lint {
	var lints []pipelines.Lint
	for _, c := range p.Connectors() {
		old := s.running(c.Name, c.Kind, c.Plugin)
		section := "sources"
		if c.Kind == sdk.KindSink {
			section = "sinks"
		}
		for _, fe := range s.paths.check(c.Spec(), c.Raw, old) {
			lints = append(lints, pipelines.Lint{File: file, Line: c.Line, Column: 1,
				Msg: fmt.Sprintf("%s.%s.config.%s: %s", section, c.Name, fe.Field, fe.Message)})
		}
	}
	return lints
}
