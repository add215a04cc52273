package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/internal/fileformat"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

func newTestSink(t *testing.T, raw map[string]any) *Sink {
	t.Helper()
	cfg, err := sinkSpec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s.(*Sink)
}

func recs(topic string, part int32, from, to int64) []sdk.Record {
	var out []sdk.Record
	for o := from; o <= to; o++ {
		out = append(out, sdk.Record{Topic: topic, Partition: part, Offset: o,
			Value: fmt.Appendf(nil, `{"n":%d,"s":"v%d"}`, o, o)})
	}
	return out
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func writeFlush(t *testing.T, s *Sink, batch []sdk.Record) {
	t.Helper()
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSinkConformance(t *testing.T) {
	dir := t.TempDir()
	sdktest.RunSink(t, SinkPlugin(), sdktest.SinkCase{
		Config:  map[string]any{"path": dir, "roll.size": 100}, // six records a file
		Records: recs("orders", 0, 1, 20),
		Reject:  &sdk.Record{Value: []byte("this is not json")},
		Check: func(t *testing.T, _ []sdk.Record) {
			names := dirNames(t, dir)
			if len(names) != 4 || names[0] != "orders-p0-000000000000001-000000000000006.jsonl" ||
				names[3] != "orders-p0-000000000000019-000000000000020.jsonl" {
				t.Fatalf("files %v", names)
			}
		},
	})
}

func TestSinkNamesReplayAndOffsets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newTestSink(t, map[string]any{"path": dir})
	writeFlush(t, s, append(recs("orders", 0, 100, 104), recs("orders", 1, 7, 8)...))
	// Nothing is visible before a flush, only a hidden temporary file.
	if err := s.Write(context.Background(), recs("orders", 0, 105, 109)); err != nil {
		t.Fatal(err)
	}
	names := dirNames(t, dir)
	want := []string{".orders-p0-000000000000105.jsonl.tmp", "orders-p0-000000000000100-000000000000104.jsonl",
		"orders-p1-000000000000007-000000000000008.jsonl"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v", names)
	}
	// Crash: the sink is dropped without a flush. A new one cleans up and
	// reports what is durable.
	s2 := newTestSink(t, map[string]any{"path": dir})
	got, err := s2.WrittenOffsets(context.Background(), []sdk.TopicPartition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}, {Topic: "x"}})
	if err != nil || len(got) != 2 || got[sdk.TopicPartition{Topic: "orders"}] != 104 || got[sdk.TopicPartition{Topic: "orders", Partition: 1}] != 8 {
		t.Fatalf("written offsets %v %v", got, err)
	}
	// A replay with other boundaries replaces the files it covers.
	writeFlush(t, s2, recs("orders", 0, 100, 109))
	names = dirNames(t, dir)
	want = []string{"orders-p0-000000000000100-000000000000109.jsonl", "orders-p1-000000000000007-000000000000008.jsonl"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("after replay %v", names)
	}
	b, _ := os.ReadFile(filepath.Join(dir, want[0]))
	if strings.Count(string(b), "\n") != 10 || !strings.HasPrefix(string(b), `{"n":100,"s":"v100"}`+"\n") {
		t.Fatalf("content %q", b)
	}
	s2.Close(context.Background())
}

func TestSinkConfinement(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	s := newTestSink(t, map[string]any{"path": dir})
	batch := append(recs("../escape", 0, 1, 1), recs("ok", 0, 2, 2)...)
	batch = append(batch, recs("a/b", 0, 3, 3)...)
	err := s.Write(context.Background(), batch)
	var be *sdk.BatchError
	if !errors.As(err, &be) || len(be.Records) != 2 || be.Records[0].Index != 0 || be.Records[1].Index != 2 {
		t.Fatalf("want two rejected records, got %v", err)
	}
	s.Flush(context.Background())
	if names := dirNames(t, parent); len(names) != 1 {
		t.Fatalf("something was written outside the directory: %v", names)
	}
	if names := dirNames(t, dir); len(names) != 1 || !strings.HasPrefix(names[0], "ok-p0-") {
		t.Fatalf("files %v", names)
	}
}

func TestSinkRollBySize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newTestSink(t, map[string]any{"path": dir, "roll.size": 34, "format": "raw"})
	writeFlush(t, s, recs("t", 0, 1, 7)) // 17 bytes a line: a new file every 2 lines
	names := dirNames(t, dir)
	if len(names) != 4 || names[0] != "t-p0-000000000000001-000000000000002.txt" || names[3] != "t-p0-000000000000007-000000000000007.txt" {
		t.Fatalf("files %v", names)
	}
}

func TestSinkCSV(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newTestSink(t, map[string]any{"path": dir, "format": "csv"})
	batch := []sdk.Record{
		{Topic: "t", Offset: 1, Fields: map[string]any{"b": "x,y", "a": 1.5}},
		{Topic: "t", Offset: 2, Value: []byte(`{"a":2,"b":"q\"z"}`)},
		{Topic: "t", Offset: 3, Value: []byte(`not json`)},
	}
	err := s.Write(context.Background(), batch)
	var be *sdk.BatchError
	if !errors.As(err, &be) || len(be.Records) != 1 || !strings.Contains(err.Error(), "offset 3") {
		t.Fatalf("want record 3 rejected, got %v", err)
	}
	s.Flush(context.Background())
	b, _ := os.ReadFile(filepath.Join(dir, "t-p0-000000000000001-000000000000002.csv"))
	if string(b) != "a,b\n1.5,\"x,y\"\n2,\"q\"\"z\"\n" {
		t.Fatalf("csv %q", b)
	}
}

func BenchmarkSinkJSONL(b *testing.B) {
	dir := b.TempDir()
	cfg, _ := sinkSpec.Validate(map[string]any{"path": dir})
	sk, _ := NewSink(cfg, sdk.Env{})
	s := sk.(*Sink)
	s.Open(context.Background())
	val := []byte(`{"v":"` + strings.Repeat("x", 248) + `"}`)
	batch := make([]sdk.Record, 1000)
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		for i := range batch {
			off++
			batch[i] = sdk.Record{Topic: "t", Offset: off, Value: val}
		}
		if err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	s.Flush(context.Background())
	b.ReportMetric(float64(off)/b.Elapsed().Seconds(), "records/s")
}

// Two tasks share a directory, each with its own partition: a task that opens
// while the other is writing leaves the other's unfinished file alone, and
// removes only its own partition's leftovers.
func TestSinkTasksShareDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := newTestSink(t, map[string]any{"path": dir})
	if err := a.Write(ctx, recs("t", 0, 0, 9)); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, fileformat.TempName(sdk.TopicPartition{Topic: "t", Partition: 1}, 0, "jsonl"))
	if err := os.WriteFile(stale, []byte("half a line"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newTestSink(t, map[string]any{"path": dir})
	if err := b.Write(ctx, recs("t", 1, 0, 4)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Sink{a, b} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"t-p0-000000000000000-000000000000009.jsonl", "t-p1-000000000000000-000000000000004.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("partition 1's leftover %s was not removed: %v", stale, err)
	}
}

// A file that cannot be made durable takes records of earlier Writes with
// it: the sink keeps failing until it is reopened, so a retried Flush cannot
// succeed and let the worker commit records that are gone.
func TestSinkStaysFailedAfterLosingRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestSink(t, map[string]any{"path": t.TempDir()})
	if err := s.Write(ctx, recs("t", 0, 1, 3)); err != nil {
		t.Fatal(err)
	}
	s.open[sdk.TopicPartition{Topic: "t"}].f.Close() // the next sync fails
	if err := s.Flush(ctx); err == nil {
		t.Fatal("flush of a file that cannot be synced succeeded")
	}
	if err := s.Flush(ctx); err == nil || sdk.IsRetryable(err) {
		t.Fatalf("second flush = %v, want the same non-retryable error", err)
	}
	if err := s.Write(ctx, recs("t", 0, 4, 4)); err == nil {
		t.Fatal("write after losing records succeeded")
	}
	s.Close(ctx)
}
