package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/natsd"
)

// opens counts Open calls per connector, to see which ones restarted.
type openCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *openCounter) get(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[name]
}

type idleSource struct {
	name   string
	counts *openCounter
}

func (s *idleSource) Open(context.Context, sdk.Position) error {
	s.counts.mu.Lock()
	s.counts.n[s.name]++
	s.counts.mu.Unlock()
	return nil
}

func (s *idleSource) Read(ctx context.Context) ([]sdk.Record, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (s *idleSource) Ack(context.Context, sdk.Position) error { return nil }
func (s *idleSource) Close(context.Context) error             { return nil }

func idlePlugin(counts *openCounter) sdk.Plugin {
	spec := sdk.Spec{Name: "idle", Kind: sdk.KindSource, Summary: "reads nothing; counts opens",
		Fields: []sdk.Field{{Name: "label", Type: sdk.TypeString, Doc: "any text"}}}
	return sdk.Plugin{Spec: spec, NewSource: func(_ sdk.Config, env sdk.Env) (sdk.Source, error) {
		return &idleSource{name: env.Connector, counts: counts}, nil
	}}
}

func startTestEngine(t *testing.T, plugins sdk.Plugins, logger *slog.Logger) *engine.Engine {
	t.Helper()
	builtin.RegisterConverters()
	dir := t.TempDir()
	eng, err := engine.Start(context.Background(), engine.Options{NATS: natsd.Config{DataDir: dir}, Plugins: plugins,
		Logger: logger, DataDir: dir, WorkerID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Close(ctx)
	})
	return eng
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func reloadPipeline(a, b string) string {
	return fmt.Sprintf("version: 1\nname: live\ntopics:\n  t: {}\nsources:\n  a: { connector: idle, topic: t, config: { label: %s } }\n"+
		"  b: { connector: idle, topic: t, config: { label: %s } }\n", a, b)
}

// TestLiveReload edits a running pipeline's file: only the changed
// connector restarts, and a broken file leaves everything running.
func TestLiveReload(t *testing.T) {
	t.Parallel()
	counts := &openCounter{n: map[string]int{}}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	eng := startTestEngine(t, sdk.Plugins{idlePlugin(counts)}, logger)
	dir := t.TempDir()
	file := filepath.Join(dir, "live.yaml")
	if err := os.WriteFile(file, []byte(reloadPipeline("one", "one")), 0o644); err != nil {
		t.Fatal(err)
	}
	p, lints := pipelines.Load(file, eng.Catalog())
	if len(lints) > 0 {
		t.Fatal(lints)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := eng.Apply(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	stop, err := serve(ctx, &runFlags{file: file, watch: true}, eng, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	waitFor(t, "both connectors open", func() bool { return counts.get("a") == 1 && counts.get("b") == 1 })

	// An editor-style save: write a temporary file and rename it over.
	tmp := filepath.Join(dir, ".live.yaml.swp")
	if err := os.WriteFile(tmp, []byte(reloadPipeline("one", "two")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to restart", func() bool { return counts.get("b") == 2 })
	waitFor(t, "the reload to be recorded", func() bool { return eng.Status().Applied && strings.Contains(eng.Status().Changes, "~ source b") })
	if got := counts.get("a"); got != 1 {
		t.Fatalf("unchanged connector a opened %d times, want 1", got)
	}

	// A broken file is rejected; the running pipeline stays.
	if err := os.WriteFile(file, []byte("version: 1\nsources:\n  a: { connector: nope }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the broken file to be rejected", func() bool { st := eng.Status(); return !st.Applied && len(st.Errors) > 0 })
	if st := eng.Status(); !strings.Contains(strings.Join(st.Errors, "\n"), "live.yaml:3:") {
		t.Fatalf("rejection lacks file:line: %v", st.Errors)
	}
	if eng.Current().Connector("b") == nil || counts.get("a") != 1 || counts.get("b") != 2 {
		t.Fatalf("a broken file changed the running pipeline (opens a=%d b=%d)", counts.get("a"), counts.get("b"))
	}

	// Fixing the file applies again: a back to one label change.
	if err := os.WriteFile(file, []byte(reloadPipeline("uno", "two")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to restart", func() bool { return counts.get("a") == 2 })
	if counts.get("b") != 2 {
		t.Fatalf("b restarted without a change")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
