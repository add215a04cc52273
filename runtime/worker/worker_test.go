package worker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/worker"
	"github.com/braidhq/braid/schema/convert"
)

func init() { convert.Builtin() }

type env struct {
	conn *natsd.Conn
	log  *log.Log
	w    *worker.Worker
	dir  string
	m    *worker.Metrics
}

// start runs a worker with the file connectors and any extra ones.
func start(t *testing.T, dir string, extra ...sdk.Plugin) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := worker.NewMetrics(nil)
	w, err := worker.New(ctx, worker.Options{Log: lg, Plugins: append(sdk.Plugins{file.SourcePlugin(), file.SinkPlugin()}, extra...),
		DataDir: dir, RestartBackoff: 50 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{conn: conn, log: lg, w: w, dir: dir, m: m}
	t.Cleanup(func() { e.stop(t) })
	return e
}

func (e *env) stop(t *testing.T) {
	if e.w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.w.Close(ctx); err != nil {
		t.Errorf("close worker: %v", err)
	}
	_ = e.log.Close()
	if err := e.conn.Close(ctx); err != nil {
		t.Errorf("close nats: %v", err)
	}
	e.w = nil
}

func writeLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	for i := from; i < to; i++ {
		fmt.Fprintf(bw, "{\"id\":%d,\"amount\":%d,\"customer\":\"c%d\"}\n", i, i%200, i%7)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// readOut returns the ids in every jsonl file under dir.
func readOut(t *testing.T, dir string) []int {
	t.Helper()
	var ids []int
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var m struct{ ID int }
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: %q: %v", f, line, err)
			}
			ids = append(ids, m.ID)
		}
	}
	sort.Ints(ids)
	return ids
}

func waitIdle(t *testing.T, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WaitIdle(ctx); err != nil {
		t.Fatalf("wait idle: %v", err)
	}
}

func checkExactly(t *testing.T, ids []int, want func(i int) bool, n int) {
	t.Helper()
	var exp []int
	for i := 0; i < n; i++ {
		if want(i) {
			exp = append(exp, i)
		}
	}
	if len(ids) != len(exp) {
		t.Fatalf("sink has %d records, want %d", len(ids), len(exp))
	}
	for i := range ids {
		if ids[i] != exp[i] {
			t.Fatalf("record %d: id %d, want %d (missing or duplicated)", i, ids[i], exp[i])
		}
	}
}

func fileSource(name, path, topic string) worker.ConnectorConfig {
	return worker.ConnectorConfig{Name: name, Kind: sdk.KindSource, Plugin: "file", Topic: topic,
		Config: map[string]any{"path": path, "format": "jsonl"}}
}

func fileSink(name, dir string, topics ...string) worker.ConnectorConfig {
	return worker.ConnectorConfig{Name: name, Kind: sdk.KindSink, Plugin: "file", Topics: topics,
		Config: map[string]any{"path": dir, "format": "jsonl"}}
}

func TestFileToFileWithTransformsAndResume(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	writeLines(t, in, 0, 5000)
	e := start(t, dir)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "orders", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	src := fileSource("in", in, "orders")
	src.Transforms = []worker.TransformConfig{{Type: "value_to_key", Config: map[string]any{"fields": []any{"customer"}}}}
	all := fileSink("all", filepath.Join(dir, "all"), "orders")
	all.Tasks = 2
	big := fileSink("big", filepath.Join(dir, "big"), "orders")
	big.Transforms = []worker.TransformConfig{{Type: "filter", Config: map[string]any{"expression": "value.amount >= 150"}}}
	for _, c := range []worker.ConnectorConfig{src, all, big} {
		if err := e.w.Put(ctx, c); err != nil {
			t.Fatalf("put %s: %v", c.Name, err)
		}
	}
	waitIdle(t, e.w)
	checkExactly(t, readOut(t, filepath.Join(dir, "all")), func(int) bool { return true }, 5000)
	checkExactly(t, readOut(t, filepath.Join(dir, "big")), func(i int) bool { return i%200 >= 150 }, 5000)

	// Restart everything on the same data dir; new lines flow, old ones are not repeated.
	e.stop(t)
	writeLines(t, in, 5000, 7000)
	e = start(t, dir)
	for _, c := range []worker.ConnectorConfig{src, all, big} {
		if err := e.w.Put(ctx, c); err != nil {
			t.Fatalf("put %s: %v", c.Name, err)
		}
	}
	waitIdle(t, e.w)
	checkExactly(t, readOut(t, filepath.Join(dir, "all")), func(int) bool { return true }, 7000)
	checkExactly(t, readOut(t, filepath.Join(dir, "big")), func(i int) bool { return i%200 >= 150 }, 7000)
	st, err := e.w.Status("all")
	if err != nil || len(st.Tasks) != 2 || st.Tasks[0].State != worker.StateRunning {
		t.Fatalf("status of all: %+v %v", st, err)
	}
}

func TestDeadLetterTopicCarriesHeaders(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("{\"id\":1,\"amount\":5}\nnot json at all\n{\"id\":3,\"amount\":\"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, dir)
	ctx := context.Background()
	src := worker.ConnectorConfig{Name: "raw", Kind: sdk.KindSource, Plugin: "file", Topic: "raw",
		Config: map[string]any{"path": in, "format": "lines"}}
	sink := fileSink("out", filepath.Join(dir, "out"), "raw")
	sink.Transforms = []worker.TransformConfig{{Type: "filter", Config: map[string]any{"expression": "value.amount > 1"}}}
	sink.Errors = worker.ErrorPolicy{Tolerance: worker.ToleranceAll, DeadLetterTopic: "raw-dlq"}
	for _, c := range []worker.ConnectorConfig{src, sink} {
		if err := e.w.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, e.w)
	if ids := readOut(t, filepath.Join(dir, "out")); len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("sink got ids %v, want [1]", ids)
	}
	r, err := e.log.NewReader(ctx, "raw-dlq", 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var dead []log.Record
	deadline := time.Now().Add(10 * time.Second)
	for len(dead) < 2 && time.Now().Before(deadline) {
		recs, err := r.Fetch(ctx, 10, 1<<20, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, recs...)
	}
	if len(dead) != 2 {
		t.Fatalf("dead-letter topic has %d records, want 2", len(dead))
	}
	h := map[string]string{}
	for _, x := range dead[0].Headers {
		h[x.Key] = x.Value
	}
	for _, k := range []string{worker.HeaderDLQStage, worker.HeaderDLQConnector, worker.HeaderDLQTask, worker.HeaderDLQTopic,
		worker.HeaderDLQPartition, worker.HeaderDLQOffset, worker.HeaderDLQError} {
		if h[k] == "" {
			t.Errorf("dead letter lacks header %s (has %v)", k, h)
		}
	}
	if h[worker.HeaderDLQConnector] != "out" || h[worker.HeaderDLQTopic] != "raw" || string(dead[0].Value) != "not json at all" {
		t.Errorf("dead letter: headers %v value %q", h, dead[0].Value)
	}
}

func TestToleranceNoneFailsTaskAndNamesRecord(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("{\"amount\":5}\nbroken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, dir)
	ctx := context.Background()
	src := worker.ConnectorConfig{Name: "raw", Kind: sdk.KindSource, Plugin: "file", Topic: "raw2",
		Config: map[string]any{"path": in, "format": "lines"}}
	sink := fileSink("strict", filepath.Join(dir, "out"), "raw2")
	sink.Transforms = []worker.TransformConfig{{Type: "filter", Config: map[string]any{"expression": "value.amount > 1"}}}
	for _, c := range []worker.ConnectorConfig{src, sink} {
		if err := e.w.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var st worker.ConnectorStatus
	waitUntil(t, "the task to fail on a bad record with errors.tolerance none", func() bool {
		var err error
		if st, err = e.w.Status("strict"); err != nil {
			t.Fatal(err)
		}
		return st.Tasks[0].State == worker.StateFailed
	})
	if !strings.Contains(st.Tasks[0].Trace, `topic "raw2" partition 0 offset`) {
		t.Fatalf("trace does not name the record: %s", st.Tasks[0].Trace)
	}
}

func TestPauseResumeAndDelete(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	writeLines(t, in, 0, 100)
	e := start(t, dir)
	ctx := context.Background()
	if err := e.w.Put(ctx, fileSource("in", in, "p")); err != nil {
		t.Fatal(err)
	}
	sink := fileSink("out", filepath.Join(dir, "out"), "p")
	if err := e.w.Put(ctx, sink); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e.w)
	if err := e.w.Pause(context.Background(), "out"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.w.Status("out"); st.Connector.State != worker.StatePaused || st.Tasks[0].State != worker.StatePaused {
		t.Fatalf("after pause: %+v", st)
	}
	if err := e.w.Resume(context.Background(), "out"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.w.Status("out"); st.Connector.State != worker.StateRunning {
		t.Fatalf("after resume: %+v", st)
	}
	if err := e.w.Delete(ctx, "out"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.w.Status("out"); err == nil {
		t.Fatal("status of a deleted connector did not fail")
	}
	checkExactly(t, readOut(t, filepath.Join(dir, "out")), func(int) bool { return true }, 100)
}
