package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/braidhq/braid/pipelines"
)

// batch.size and errors.retries written in a pipeline file reach the
// worker's config as they do over REST: batch.size was settable only over
// REST, and retries: 0 became 5 (issue 18, item 11).
func TestPipelineWorkerSettingsReachWorker(t *testing.T) {
	dir := t.TempDir()
	eng := start(t, filepath.Join(dir, "data"))
	defer stop(t, eng)
	yaml := `version: 1
name: sizes
topics:
  lines: { partitions: 1 }
sources:
  in: { connector: file, topic: lines, errors: { retries: 0 }, config: { path: ` + filepath.Join(dir, "in.txt") + `, batch.size: 10 } }
sinks:
  out: { connector: file, topics: [lines], batch.size: 250, config: { path: ` + filepath.Join(dir, "out") + ` } }
`
	p, lints := pipelines.Parse("sizes.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
	if len(lints) > 0 {
		t.Fatalf("lints: %v", lints)
	}
	if _, err := eng.Apply(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
	in, err := eng.Worker.Config("in")
	if err != nil {
		t.Fatal(err)
	}
	out, err := eng.Worker.Config("out")
	if err != nil {
		t.Fatal(err)
	}
	if in.BatchSize != 4096 || fmt.Sprint(in.Config["batch.size"]) != "10" || in.Errors.Retries == nil || *in.Errors.Retries != 0 {
		t.Fatalf("in: batch size %d, its own %v, retries %v (want 4096, 10, 0)", in.BatchSize, in.Config["batch.size"], in.Errors.Retries)
	}
	if out.BatchSize != 250 || out.Errors.Retries == nil || *out.Errors.Retries != 5 {
		t.Fatalf("out: batch size %d, retries %v (want 250, 5)", out.BatchSize, out.Errors.Retries)
	}
}
