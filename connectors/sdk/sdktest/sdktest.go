// Package sdktest is the conformance suite every Braid connector passes.
//
// A connector's tests call RunSource or RunSink with a real configuration
// (pointing at a real file, database or server) and the suite drives the
// lifecycle the worker relies on: spec validity, config validation that names
// the field, open, read or write, acknowledge or flush, resume at a stored
// position, prompt cancellation, and close.
package sdktest

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// SourceCase configures RunSource.
type SourceCase struct {
	// Config is a working configuration for the connector.
	Config map[string]any
	// Env is passed to NewSource; Logger and Store get defaults when nil.
	Env sdk.Env
	// Want is how many records the source produces at least (within Timeout).
	Want int
	// Timeout bounds each wait (default 10s).
	Timeout time.Duration
	// NoResume skips the resume check, for sources that cannot replay
	// (a webhook forgets a request once answered).
	NoResume bool
}

// SinkCase configures RunSink.
type SinkCase struct {
	Config  map[string]any
	Env     sdk.Env
	Records []sdk.Record
	// Check, when set, verifies that the records reached the target system.
	Check   func(t *testing.T, written []sdk.Record)
	Timeout time.Duration
}

// CheckSpec verifies a plugin's spec and that unknown settings are refused
// with the setting's name.
func CheckSpec(t *testing.T, p sdk.Plugin) {
	t.Helper()
	if err := sdk.CheckSpec(p.Spec); err != nil {
		t.Fatalf("spec: %v", err)
	}
	if (p.Spec.Kind == sdk.KindSource) != (p.NewSource != nil) || (p.Spec.Kind == sdk.KindSink) != (p.NewSink != nil) {
		t.Fatalf("spec %s: kind %s does not match its constructor", p.Spec.Name, p.Spec.Kind)
	}
	_, err := p.Spec.Validate(map[string]any{"no-such-setting-xyz": 1})
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no-such-setting-xyz") {
		t.Fatalf("spec %s: unknown setting not refused by name: %v", p.Spec.Name, err)
	}
	if !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("spec %s: config error does not wrap sdk.ErrInvalidConfig", p.Spec.Name)
	}
	for _, f := range p.Spec.Fields {
		if f.Required {
			_, err := p.Spec.Validate(map[string]any{})
			if err == nil || !strings.Contains(err.Error(), f.Name) {
				t.Fatalf("spec %s: missing required %q not reported: %v", p.Spec.Name, f.Name, err)
			}
		}
	}
}

func fillEnv(t *testing.T, env sdk.Env, name string) sdk.Env {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Connector == "" {
		env.Connector = name
	}
	if env.Store == nil {
		env.Store = NewMemStore()
	}
	if env.DataDir == "" {
		env.DataDir = t.TempDir()
	}
	return env
}

// RunSource drives a source through its lifecycle.
func RunSource(t *testing.T, p sdk.Plugin, c SourceCase) {
	t.Helper()
	CheckSpec(t, p)
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Want == 0 {
		c.Want = 1
	}
	cfg, err := p.Spec.Validate(c.Config)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	env := fillEnv(t, c.Env, p.Spec.Name)

	src := newSource(t, p, cfg, env)
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatalf("open: %v", err)
	}
	first := readN(ctx, t, src, c.Want)
	for i, r := range first {
		if r.Position == nil {
			t.Fatalf("record %d has no position", i)
		}
		if r.Value == nil && r.Fields == nil && r.Op != sdk.OpDelete {
			t.Fatalf("record %d has neither value nor fields", i)
		}
	}
	half := len(first) / 2
	if half == 0 {
		half = 1
	}
	acked := first[half-1].Position
	if err := src.Ack(ctx, acked); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if err := src.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	checkCancel(t, p, cfg, env, c.Timeout)
	if c.NoResume || len(first) < 2 {
		return
	}
	// Reopen at the acknowledged position: the next record is the one after it.
	src2 := newSource(t, p, cfg, env)
	ctx2, cancel2 := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel2()
	if err := src2.Open(ctx2, acked); err != nil {
		t.Fatalf("reopen at %q: %v", acked, err)
	}
	defer src2.Close(context.Background())
	again := readN(ctx2, t, src2, 1)
	if string(again[0].Position) != string(first[half].Position) {
		t.Fatalf("after resuming at %q the first record has position %q, want %q (the record after the acked one)",
			acked, again[0].Position, first[half].Position)
	}
}

func newSource(t *testing.T, p sdk.Plugin, cfg sdk.Config, env sdk.Env) sdk.Source {
	t.Helper()
	src, err := p.NewSource(cfg, env)
	if err != nil {
		t.Fatalf("new source: %v", err)
	}
	return src
}

func readN(ctx context.Context, t *testing.T, src sdk.Source, n int) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	for len(out) < n {
		recs, err := src.Read(ctx)
		switch {
		case errors.Is(err, sdk.ErrBackoff):
			select {
			case <-ctx.Done():
				t.Fatalf("read: got %d records, want %d: %v", len(out), n, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
			continue
		case errors.Is(err, sdk.ErrEndOfInput):
			out = append(out, recs...)
			if len(out) < n {
				t.Fatalf("read: end of input after %d records, want %d", len(out), n)
			}
			return out
		case err != nil:
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
	}
	return out
}

// checkCancel verifies that Read returns promptly once its context ends.
func checkCancel(t *testing.T, p sdk.Plugin, cfg sdk.Config, env sdk.Env, timeout time.Duration) {
	t.Helper()
	src := newSource(t, p, cfg, env)
	ctx, cancel := context.WithCancel(context.Background())
	if err := src.Open(ctx, nil); err != nil {
		t.Fatalf("open: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if _, err := src.Read(ctx); err != nil && !errors.Is(err, sdk.ErrBackoff) {
				return
			}
		}
	}()
	time.AfterFunc(50*time.Millisecond, cancel)
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("read did not return within %s after its context was cancelled", timeout)
	}
	if err := src.Close(context.Background()); err != nil {
		t.Fatalf("close after cancel: %v", err)
	}
}

// RunSink drives a sink through its lifecycle: open, an empty flush, write,
// flush, close, and a replay of the same records after reopening.
func RunSink(t *testing.T, p sdk.Plugin, c SinkCase) {
	t.Helper()
	CheckSpec(t, p)
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	cfg, err := p.Spec.Validate(c.Config)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	env := fillEnv(t, c.Env, p.Spec.Name)
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	sink, err := p.NewSink(cfg, env)
	if err != nil {
		t.Fatalf("new sink: %v", err)
	}
	if err := sink.Open(ctx); err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatalf("flush with nothing written: %v", err)
	}
	if err := sink.Write(ctx, nil); err != nil {
		t.Fatalf("write of an empty batch: %v", err)
	}
	recs := cloneAll(c.Records)
	if err := sink.Write(ctx, recs); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if c.Check != nil {
		c.Check(t, c.Records)
	}
}

func cloneAll(in []sdk.Record) []sdk.Record {
	out := make([]sdk.Record, len(in))
	for i, r := range in {
		out[i] = r.Clone()
	}
	return out
}

// MemStore is an in-memory sdk.Store for connector unit tests; the worker uses
// a JetStream KV bucket.
type MemStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{m: map[string][]byte{}} }

// Get implements sdk.Store.
func (s *MemStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, sdk.ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

// Put implements sdk.Store.
func (s *MemStore) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), value...)
	return nil
}

// Delete implements sdk.Store.
func (s *MemStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}
