package worker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/worker"
)

// TestFileSourceDeadLettersInvalidLines: a JSON-lines file with lines that
// do not parse, read with on.invalid dead-letter and tolerance all, puts
// every good line in the topic in order and each bad one in the
// dead-letter topic at stage source, raw, with an error naming the file and
// offset; the task keeps running.
func TestFileSourceDeadLettersInvalidLines(t *testing.T) {
	e := start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte("{\"n\":1}\n{\"n\":2}\nnot json\n{\"n\":3}\n{\"n\":\n{\"n\":4}\n"), 0o644)
	cfg := worker.ConnectorConfig{Name: "files", Kind: sdk.KindSource, Plugin: "file", Topic: "lines",
		Converter: worker.ConverterConfig{Type: "json"},
		Errors:    worker.ErrorPolicy{Tolerance: worker.ToleranceAll, DeadLetterTopic: "lines-dlq"},
		Config:    map[string]any{"path": in, "format": "jsonl", "on.invalid": "dead-letter"}}
	if err := e.w.Put(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two dead letters", func() bool {
		info, err := e.log.Topic(ctx, "lines-dlq")
		return err == nil && info.Partitions[0].LastOffset >= 1
	})
	var values []string
	for _, r := range readExactly(ctx, t, e.log, "lines", 4) {
		values = append(values, string(r.Value))
	}
	if got := strings.Join(values, ","); got != `{"n":1},{"n":2},{"n":3},{"n":4}` {
		t.Fatalf("topic holds %s", got)
	}
	dead := readExactly(ctx, t, e.log, "lines-dlq", 2)
	for i, want := range []string{"not json", `{"n":`} {
		h := headers(dead[i])
		if string(dead[i].Value) != want || h[worker.HeaderDLQStage] != worker.StageSource || h[worker.HeaderDLQConnector] != "files" ||
			!strings.Contains(h[worker.HeaderDLQError], in) || !strings.Contains(h[worker.HeaderDLQError], "byte offset") {
			t.Fatalf("dead letter %d: value %q headers %v, want %q at stage source naming %s and its offset", i, dead[i].Value, h, want, in)
		}
	}
	if st, _ := e.w.Status("files"); st.Tasks[0].State != worker.StateRunning {
		t.Fatalf("task %s (%s) after dead letters with tolerance all, want RUNNING", st.Tasks[0].State, st.Tasks[0].Trace)
	}
}
