package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/braidhq/braid/pipelines"
)

// TestAPIConnectorsConfinedToAllowedPaths: a file connector created over the
// API may not read or write outside the allowed directories (a file source
// on /etc/shadow or /proc/self/environ would serve the file at
// /topics/.../records); the operator's own pipeline file is not confined.
func TestAPIConnectorsConfinedToAllowedPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{}) // allows f.dir only
	outside := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(f.dir, "etc-link")); err != nil {
		t.Fatal(err)
	}
	source := func(name, path string) map[string]any {
		return map[string]any{"name": name, "config": map[string]any{"connector": "file", "kind": "source", "topic": "loot", "path": path}}
	}
	refused := map[string]string{
		"/etc/passwd":                           f.dir,
		"/etc/*":                                f.dir,
		"/proc/self/environ":                    "/proc",
		outside + "/data.txt":                   f.dir,
		f.dir + "/../../etc/passwd":             f.dir,
		f.dir + "/etc-link/passwd":              f.dir,
		f.dir + "/etc-link/*":                   f.dir,
		"../../../../../../../../../etc/shadow": f.dir,
	}
	for path, want := range refused {
		code, body := f.do("POST", "/connectors", source("steal", path))
		if code != http.StatusBadRequest || !strings.Contains(string(body), "path: ") || !strings.Contains(string(body), want) {
			t.Errorf("file source on %s: %d %s; want 400 naming path and %s", path, code, body, want)
		}
	}
	f.must(http.StatusCreated, "POST", "/connectors", source("logs", f.dir+"/logs/*.log"), nil)
	sink := map[string]any{"connector": "file", "kind": "sink", "topics": "loot", "path": "/tmp/../etc"}
	f.must(http.StatusBadRequest, "PUT", "/connectors/out/config", sink, nil)
	sink["path"] = f.dir + "/out"
	f.must(http.StatusCreated, "PUT", "/connectors/out/config", sink, nil)

	var v Validation
	f.must(http.StatusOK, "PUT", "/connector-plugins/file/config/validate?kind=source",
		map[string]any{"topic": "t", "path": "/etc/shadow"}, &v)
	if v.ErrorCount != 1 || !strings.Contains(fmt.Sprint(v.Configs), "outside the directories") {
		t.Errorf("validate does not report the path: %+v", v)
	}

	pipeline := func(path string) string {
		return fmt.Sprintf("version: 1\ntopics:\n  loot: {}\nsources:\n  s: { connector: file, topic: loot, config: { path: %q } }\n", path)
	}
	for _, route := range []string{"PUT /pipelines", "PUT /pipelines?dry_run=true", "POST /pipelines/lint"} {
		method, path, _ := strings.Cut(route, " ")
		var lint LintResult
		f.must(http.StatusBadRequest, method, path, pipeline("/etc/shadow"), &lint)
		if len(lint.Lints) != 1 || !strings.HasPrefix(lint.Lints[0].Msg, "sources.s.config.path: ") || lint.Lints[0].Line != 5 {
			t.Errorf("%s with /etc/shadow: %+v", route, lint)
		}
	}
	f.must(http.StatusOK, "PUT", "/pipelines?dry_run=true", pipeline(f.dir+"/in.txt"), nil)

	// The operator's own pipeline may read outside; re-sending its
	// unchanged path over the API grants nothing new.
	p, lints := pipelines.Parse("ops.yaml", []byte(pipeline(outside+"/data.txt")), f.eng.Catalog(), nil)
	if len(lints) > 0 {
		t.Fatal(lints)
	}
	if _, err := f.eng.Apply(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
	f.must(http.StatusOK, "PUT", "/pipelines?dry_run=true", pipeline(outside+"/data.txt"), nil)
	f.must(http.StatusOK, "PUT", "/connectors/s/config",
		map[string]any{"connector": "file", "kind": "source", "topic": "loot", "path": outside + "/data.txt", "follow": true}, nil)
	f.must(http.StatusBadRequest, "PUT", "/connectors/s/config",
		map[string]any{"connector": "file", "kind": "source", "topic": "loot", "path": outside + "/other.txt"}, nil)
}

// TestNeverAllowedPaths: /proc, /sys, /dev and the DenyPaths are refused
// even when an allowed directory contains them.
func TestNeverAllowedPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{AllowPaths: []string{"/"}, DenyPaths: []string{"/tmp/braid-deny-test"}})
	for _, path := range []string{"/proc/self/environ", "/proc/1/*", "/sys/kernel/*", "/dev/stdin", "/dev/../proc/self/mem",
		"/tmp/braid-deny-test/jetstream/x", "/tmp/braid-deny-test"} {
		code, body := f.do("POST", "/connectors", map[string]any{"name": "x",
			"config": map[string]any{"connector": "file", "kind": "source", "topic": "t", "path": path}})
		if code != http.StatusBadRequest || !strings.Contains(string(body), "may never use") {
			t.Errorf("file source on %s: %d %s", path, code, body)
		}
	}
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "ok",
		"config": map[string]any{"connector": "file", "kind": "sink", "topics": "t", "path": f.dir + "/out"}}, nil)
}

func TestStaticPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/var/log/app/*.log": "/var/log/app",
		"/var/log/a*/x.log":  "/var/log",
		"/var/log/x.log":     "/var/log/x.log",
		"*.log":              ".",
		"/data/../etc/*":     "/etc",
		"/[a-z]*":            "/",
	} {
		if got := staticPrefix(in); got != want {
			t.Errorf("staticPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
