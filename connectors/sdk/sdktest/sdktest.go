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
	// Reject, when set, is a record the sink refuses in a *sdk.BatchError
	// (a value its format cannot hold). Its topic, partition and offset are
	// set by the suite. A sink that tracks offsets is then checked not to
	// claim it, nor the records after it, until a Flush, and not to claim a
	// batch of rejected records only even after one.
	Reject *sdk.Record
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
// flush, close. A sink that tracks offsets (sdk.OffsetTracker) must then
// report, after reopening, exactly the last offsets it flushed: records
// written but never flushed (the worker closes a failed task without a
// flush) and records after a rejected one are not claimed. Configure the
// case to roll files often, so that rolled but unflushed files are checked
// too.
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
	if _, ok := sink.(sdk.OffsetTracker); ok && len(c.Records) > 0 {
		checkWrittenOffsets(t, p, cfg, env, c, c.Timeout)
	}
}

// checkWrittenOffsets verifies that an OffsetTracker claims only flushed
// records, after the lifecycle of RunSink flushed c.Records.
func checkWrittenOffsets(t *testing.T, p sdk.Plugin, cfg sdk.Config, env sdk.Env, c SinkCase, timeout time.Duration) {
	t.Helper()
	flushed := map[sdk.TopicPartition]int64{}
	var parts []sdk.TopicPartition
	lo, hi := c.Records[0].Offset, c.Records[0].Offset
	for _, r := range c.Records {
		tp := sdk.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if cur, ok := flushed[tp]; !ok || r.Offset > cur {
			if !ok {
				parts = append(parts, tp)
			}
			flushed[tp] = r.Offset
		}
		lo, hi = min(lo, r.Offset), max(hi, r.Offset)
	}
	// reopen runs one step on a new sink over the same target, closes it
	// without a flush, and checks what a further sink reports.
	reopen := func(step string, run func(ctx context.Context, s sdk.Sink)) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if run != nil {
			s := openSink(ctx, t, p, cfg, env)
			run(ctx, s)
			if err := s.Close(ctx); err != nil {
				t.Fatalf("%s: close: %v", step, err)
			}
		}
		s := openSink(ctx, t, p, cfg, env)
		defer s.Close(ctx)
		got, err := s.(sdk.OffsetTracker).WrittenOffsets(ctx, parts)
		if err != nil {
			t.Fatalf("%s: written offsets: %v", step, err)
		}
		for _, tp := range parts {
			if off, ok := got[tp]; !ok || off != flushed[tp] {
				t.Fatalf("%s: written offset of %s/%d is %d (reported: %v), want %d, the last flushed record",
					step, tp.Topic, tp.Partition, off, ok, flushed[tp])
			}
		}
	}
	reopen("after flush and close", nil)

	// A write that is never flushed claims nothing.
	shift := hi - lo + 1
	later := cloneAll(c.Records)
	for i := range later {
		later[i].Offset += shift
	}
	reopen("after a write that was not flushed", func(ctx context.Context, s sdk.Sink) {
		if err := s.Write(ctx, later); err != nil {
			t.Fatalf("write of records not flushed: %v", err)
		}
	})
	if c.Reject == nil {
		return
	}

	// A rejected record, and the good ones around it, are not claimed when
	// the task fails (no flush); after a flush (the worker sent the rejected
	// record to the dead-letter topic) the last good one is.
	tp := parts[0]
	next := hi + shift
	batch := make([]sdk.Record, 3)
	for i := range batch {
		next++
		batch[i] = c.Records[0].Clone()
		if i == 1 {
			batch[i] = c.Reject.Clone()
		}
		batch[i].Topic, batch[i].Partition, batch[i].Offset = tp.Topic, tp.Partition, next
	}
	write := func(ctx context.Context, s sdk.Sink) {
		t.Helper()
		err := s.Write(ctx, cloneAll(batch))
		var be *sdk.BatchError
		if !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 1 {
			t.Fatalf("write with a rejected record at index 1: want a *sdk.BatchError naming index 1, got %v", err)
		}
	}
	reopen("after a write with a rejected record, closed without a flush", write)
	flushed[tp] = next
	reopen("after a write with a rejected record and a flush", func(ctx context.Context, s sdk.Sink) {
		write(ctx, s)
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("flush after a rejected record: %v", err)
		}
	})

	// A write whose only record was rejected writes nothing to claim.
	lone := c.Reject.Clone()
	lone.Topic, lone.Partition, lone.Offset = tp.Topic, tp.Partition, next+1
	reopen("after a flushed write whose only record was rejected", func(ctx context.Context, s sdk.Sink) {
		var be *sdk.BatchError
		if err := s.Write(ctx, []sdk.Record{lone}); !errors.As(err, &be) {
			t.Fatalf("write of a rejected record: want a *sdk.BatchError, got %v", err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("flush after a rejected record: %v", err)
		}
	})
}

func openSink(ctx context.Context, t *testing.T, p sdk.Plugin, cfg sdk.Config, env sdk.Env) sdk.Sink {
	t.Helper()
	s, err := p.NewSink(cfg, env)
	if err != nil {
		t.Fatalf("new sink: %v", err)
	}
	if err := s.Open(ctx); err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
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

// Len is how many keys the store holds (a connector's Deleted should leave
// none).
func (s *MemStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
