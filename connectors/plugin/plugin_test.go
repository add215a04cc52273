package plugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
	"github.com/braidhq/braid/internal/logbuf"
)

// load discovers the plugins of one mode.
func load(t *testing.T, o Options, modes ...string) sdk.Plugins {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ps, err := Discover(ctx, []string{pluginDir(t, modes...), filepath.Join(t.TempDir(), "missing")}, o)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	return ps
}

func lookup(t *testing.T, ps sdk.Plugins, kind sdk.Kind, name string) sdk.Plugin {
	t.Helper()
	p, ok := ps.Lookup(kind, name)
	if !ok {
		t.Fatalf("no %s %s among %d plugins", kind, name, len(ps))
	}
	return p
}

func TestSourceConformance(t *testing.T) {
	t.Parallel()
	ps := load(t, Options{}, "serve")
	if len(ps) != 4 {
		t.Fatalf("%d connectors, want generator, file (source and sink) and flaky", len(ps))
	}
	sdktest.RunSource(t, lookup(t, ps, sdk.KindSource, "generator"), sdktest.SourceCase{
		Config: map[string]any{"batch.size": 7, "template": `{"n":{{.N}},"name":"{{name}}"}`}, Want: 30,
	})
	dir := t.TempDir()
	var lines strings.Builder
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.log"), []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sdktest.RunSource(t, lookup(t, ps, sdk.KindSource, "file"), sdktest.SourceCase{
		Config: map[string]any{"path": filepath.Join(dir, "*.log"), "batch.size": 7}, Want: 50,
	})
}

func TestSinkConformance(t *testing.T) {
	t.Parallel()
	ps := load(t, Options{}, "serve")
	p := lookup(t, ps, sdk.KindSink, "file")
	if p.NewSink == nil {
		t.Fatal("file is not a sink")
	}
	dir := t.TempDir()
	var recs []sdk.Record
	for i := int64(1); i <= 20; i++ {
		recs = append(recs, sdk.Record{Topic: "orders", Offset: i, Key: []byte("k"), Value: []byte(`{"id":1}`),
			Headers: sdk.Headers{{Key: "h", Value: "v"}}, Timestamp: time.Unix(1700000000, 0)})
	}
	sdktest.RunSink(t, p, sdktest.SinkCase{
		Config:  map[string]any{"path": dir, "roll.size": 100},
		Records: recs,
		Reject:  &sdk.Record{Value: []byte("this is not json")},
		Check: func(t *testing.T, _ []sdk.Record) {
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) < 2 || !strings.HasPrefix(entries[0].Name(), "orders-p0-000000000000001-") {
				t.Fatalf("files %v (%v)", entries, err)
			}
		},
	})
}

// TestSpecAndChecks: a plugin's spec arrives whole, and its own checks (a
// field's and the one across fields) run through the host's Validate.
func TestSpecAndChecks(t *testing.T) {
	t.Parallel()
	ps := load(t, Options{}, "serve")
	gen := lookup(t, ps, sdk.KindSource, "generator")
	if f := gen.Spec.Field("batch.size"); f == nil || f.Default != int64(1000) || f.Min != int64(1) || f.Doc == "" {
		t.Fatalf("batch.size arrived as %+v", f)
	}
	if err := sdk.CheckSpec(gen.Spec); err != nil {
		t.Fatal(err)
	}
	_, err := gen.Spec.Validate(map[string]any{"template": "x", "fields": map[string]any{"a": "1"}})
	if err == nil || !strings.Contains(err.Error(), "fields: set either template or fields, not both") {
		t.Fatalf("cross-field check: %v", err)
	}
	_, err = gen.Spec.Validate(map[string]any{"template": "{{.Nope"})
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) || len(ce.Errors) != 1 || ce.Errors[0].Field != "template" {
		t.Fatalf("field check: %v", err)
	}
	if _, err := gen.Spec.Validate(map[string]any{"rate": 5, "batch.size": 0}); err == nil || !strings.Contains(err.Error(), "batch.size") {
		t.Fatalf("bounds: %v", err)
	}
	if _, err := gen.Spec.Validate(map[string]any{"rate": 5}); err != nil {
		t.Fatal(err)
	}
}

func TestVersionMismatch(t *testing.T) {
	t.Parallel()
	_, err := Discover(context.Background(), []string{pluginDir(t, "v2")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "protocol v1, this plugin v2") {
		t.Fatalf("want a refused major version, got %v", err)
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	o := Options{StartTimeout: 2 * time.Second}
	for mode, want := range map[string]string{
		"garbage": "handshake",
		"silent":  "did not say it was ready within 2s",
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := Discover(context.Background(), []string{pluginDir(t, mode)}, o)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want %q, got %v", want, err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
		})
	}
}

// TestFailureFailsOnlyItsTask: a plugin that panics, exits, hangs or
// writes garbage to its socket fails its own task, not another task of the
// same plugin; the restarted task runs.
func TestFailureFailsOnlyItsTask(t *testing.T) {
	t.Parallel()
	logs := &logbuf.Buffer{}
	o := Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), HealthInterval: 200 * time.Millisecond, HealthTimeout: time.Second}
	ps := load(t, o, "serve")
	p := lookup(t, ps, sdk.KindSource, "flaky")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(t *testing.T, fail, dir, name string) sdk.Source {
		cfg, err := p.Spec.Validate(map[string]any{"fail": fail})
		if err != nil {
			t.Fatal(err)
		}
		// The worker's task logger, with the task's keys.
		src, err := p.NewSource(cfg, sdk.Env{Connector: name, DataDir: dir, Logger: o.Logger.With("connector", name, "task", 0)})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Open(ctx, nil); err != nil {
			t.Fatal(err)
		}
		return src
	}
	healthy := open(t, "", t.TempDir(), "healthy")
	defer healthy.Close(ctx)
	read := func(src sdk.Source) error {
		_, err := src.Read(ctx)
		return err
	}
	for _, mode := range []string{"panic", "exit", "hang", "garbage"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			bad := open(t, mode, dir, "bad-"+mode)
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				err = read(bad)
			}
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the %s plugin's read did not fail: %v", mode, err)
			}
			t.Logf("%s: %v", mode, err)
			if err := read(healthy); err != nil {
				t.Fatalf("the healthy task failed with the %s one: %v", mode, err)
			}
			bad.Close(ctx)
			again := open(t, mode, dir, "bad-"+mode) // the worker's restart
			defer again.Close(ctx)
			for i := 0; i < 3; i++ {
				if err := read(again); err != nil {
					t.Fatalf("restarted task: %v", err)
				}
			}
		})
	}
	// The plugin's own log line reaches the host's, with the task's keys.
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		found = found || strings.Contains(line, `"level":"INFO","msg":"flaky opened","connector":"healthy","task":0,"plugin":"stderr","fail":""`)
	}
	if !found {
		t.Fatalf("the plugin's log did not reach the host's with the connector's keys:\n%s", logs)
	}
}

// A plugin source's unparsable input reaches the host with its error and
// bytes, in order with the good records, for the worker to dead-letter.
func TestSourceRecordErrorCrossesProcess(t *testing.T) {
	t.Parallel()
	p := lookup(t, load(t, Options{}, "serve"), sdk.KindSource, "flaky")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := p.Spec.Validate(map[string]any{"fail": "invalid"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.NewSource(cfg, sdk.Env{Connector: "invalid", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	var recs []sdk.Record
	for len(recs) < 4 {
		got, err := src.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, got...)
	}
	for i, r := range recs[:4] {
		n := i + 1
		switch {
		case n == 3 && (r.Err == nil || r.Err.Error() != "flaky: record 3 is not JSON" || string(r.Value) != "n=3"):
			t.Errorf("record 3: value %q, error %v; want the raw bytes and the plugin's error", r.Value, r.Err)
		case n != 3 && r.Err != nil:
			t.Errorf("record %d: a good record has the error %v", n, r.Err)
		}
	}
}

// TestHostKilled: SIGKILL of the worker leaves no plugin process behind,
// through the closed standard input and, for a plugin that does not watch
// it ("deaf"), through the parent-death signal alone.
func TestHostKilled(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"serve", "deaf"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			hostKilled(t, mode)
		})
	}
}

func hostKilled(t *testing.T, mode string) {
	exe, _ := os.Executable()
	dir := pluginDir(t, mode)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", testModeEnv+"=host", "BRAID_PLUGIN_TEST_PATH="+filepath.Join(dir, mode))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var pid int
	for sc.Scan() {
		if _, err := fmtSscan(sc.Text(), "pid %d", &pid); err == nil {
			break
		}
		t.Fatalf("host: %s", sc.Text())
	}
	if pid == 0 || gone(pid) {
		t.Fatalf("no plugin process (pid %d)", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still runs 5s after its host was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExampleBuilds builds examples/plugins/go-generator and runs its
// generator through the host.
func TestExampleBuilds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "go-generator")
	build := exec.Command("go", "build", "-o", bin, "../../examples/plugins/go-generator")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ps, err := Discover(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sdktest.RunSource(t, lookup(t, ps, sdk.KindSource, "go-generator"), sdktest.SourceCase{
		Config: map[string]any{"count": 100, "batch.size": 10}, Want: 50,
	})
	lookup(t, ps, sdk.KindSink, "go-file")
}

// The Python SDK's example plugin passes the conformance suite through the
// host too (Debian's python3-grpcio; scripts/services.sh installs it).
func TestPythonConformance(t *testing.T) {
	t.Parallel()
	ps, err := Load(context.Background(), "../../examples/plugins/python-counter/python-counter", Options{})
	if err != nil {
		t.Fatalf("load the Python plugin (is python3-grpcio installed?): %v", err)
	}
	src := lookup(t, ps, sdk.KindSource, "python-counter")
	sdktest.RunSource(t, src, sdktest.SourceCase{Config: map[string]any{"batch.size": 7}, Want: 30})
	sdktest.RunSource(t, src, sdktest.SourceCase{Config: map[string]any{"batch.size": 10, "count": 25}, Want: 25})
	if _, err := src.Spec.Validate(map[string]any{"count": 5, "batch.size": 10}); err == nil || !strings.Contains(err.Error(), "batch.size: must not be larger than count") {
		t.Fatalf("the Python check did not run: %v", err)
	}
	dir := t.TempDir()
	var recs []sdk.Record
	for i := int64(0); i < 5; i++ {
		recs = append(recs, sdk.Record{Topic: "t", Offset: i, Value: []byte(`{"i":1}`)})
	}
	sdktest.RunSink(t, lookup(t, ps, sdk.KindSink, "python-jsonl"), sdktest.SinkCase{
		Config: map[string]any{"path": dir}, Records: recs,
		Check: func(t *testing.T, _ []sdk.Record) {
			b, err := os.ReadFile(filepath.Join(dir, "t.jsonl"))
			if err != nil || strings.Count(string(b), "\n") != 5 {
				t.Fatalf("t.jsonl: %q %v", b, err)
			}
		},
	})
}
