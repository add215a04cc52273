package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

// With errors.tolerance none, a file sink that cannot write a record blocks
// at it: the task fails, restarts, and fails again at the same record, while
// no file and no committed offset ever claim it (issue 18, item 1).
func TestToleranceNoneBlocksAtBadRecord(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	addr := freeAddr(t)
	yaml := fmt.Sprintf(`version: 1
name: strict
topics:
  hooks: { partitions: 1 }
sources:
  hook: { connector: http-webhook, topic: hooks, converter: bytes, config: { listen: %q, path: /in } }
sinks:
  files:
    connector: file
    topics: [hooks]
    converter: json
    errors: { tolerance: none }
    config: { path: %q, format: jsonl }
`, addr, out)
	eng := start(t, filepath.Join(dir, "data"))
	defer stop(t, eng)
	ctx := context.Background()
	p, lints := pipelines.Parse("strict.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
	if len(lints) > 0 {
		t.Fatalf("lints: %v", lints)
	}
	if _, err := eng.Apply(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	cfg, err := eng.Worker.Config("files")
	if err != nil {
		t.Fatal(err)
	}
	committed := func() (int64, bool) {
		m, err := eng.Log.CommittedOffsets(ctx, cfg.Group, "hooks")
		if err != nil {
			t.Fatal(err)
		}
		off, ok := m[0]
		return off, ok
	}

	bodies := [][]byte{[]byte(`{"id":1}`), []byte("this is not json"), {0xff, 0xfe, 0x00, 0x9c, 0x01}, []byte("x\x00\x00y"), []byte(`{"id":2}`)}
	post(t, addr, bodies[0])
	waitFor(t, "the good record to be written and committed", func() bool {
		_, ok := committed()
		return ok && len(readJSONLines(t, out)) == 1
	})
	for _, body := range bodies[1:] {
		post(t, addr, body)
	}
	offs := offsets(t, eng, "hooks", len(bodies))
	good, bad := offs[0], offs[1]

	// The task fails at offset 1, restarts from before it and fails there
	// again: after two restarts the third attempt has run too.
	var st worker.ConnectorStatus
	waitFor(t, "the sink task to fail at offset 1 again after restarts", func() bool {
		if st, err = eng.Worker.Status("files"); err != nil {
			t.Fatal(err)
		}
		return restarts(t, eng, "files") >= 2 && st.Tasks[0].State == worker.StateFailed
	})
	if !strings.Contains(st.Tasks[0].Trace, fmt.Sprintf(`topic "hooks" partition 0 offset %d`, bad)) {
		t.Fatalf("trace does not name the bad record: %s", st.Tasks[0].Trace)
	}
	if off, ok := committed(); !ok || off != good {
		t.Fatalf("committed offset %d (%v), want %d: it moved past the bad record at %d", off, ok, good, bad)
	}
	got := readJSONLines(t, out)
	if len(got) != 1 || got[0]["id"] != float64(1) {
		t.Fatalf("sink files hold %v, want only {\"id\":1}", got)
	}
	// Only the good record's file: none named for the bad record or later
	// ones, and no unfinished file left behind by the failed attempts.
	want := fmt.Sprintf("hooks-p0-%015d-%015d.jsonl", good, good)
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != want {
			t.Errorf("unexpected file %s: only offset %d was written (%s)", e.Name(), good, want)
		}
	}
}

// offsets returns the offsets of the first n records of partition 0.
func offsets(t *testing.T, eng *engine.Engine, topic string, n int) []int64 {
	t.Helper()
	r, err := eng.Log.NewReader(t.Context(), topic, 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []int64
	waitFor(t, "the records in the log", func() bool {
		recs, err := r.Fetch(t.Context(), n-len(out), 1<<20, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			out = append(out, rec.Offset)
		}
		return len(out) >= n
	})
	return out
}

// restarts reads braid_task_restarts_total of a connector.
func restarts(t *testing.T, eng *engine.Engine, connector string) float64 {
	t.Helper()
	mfs, err := eng.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "braid_task_restarts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "connector" && l.GetValue() == connector {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// post sends one webhook request, waiting for the source to listen.
func post(t *testing.T, addr string, body []byte) {
	t.Helper()
	var resp *nethttp.Response
	waitFor(t, "the webhook to answer", func() bool {
		var err error
		resp, err = nethttp.Post("http://"+addr+"/in", "application/octet-stream", bytes.NewReader(body))
		return err == nil
	})
	resp.Body.Close()
	if resp.StatusCode != nethttp.StatusOK {
		t.Fatalf("POST %q: %s", body, resp.Status)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
