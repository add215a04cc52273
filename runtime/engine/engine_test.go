package engine_test

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

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/wire"
)

func start(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	builtin.RegisterConverters()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := engine.Start(ctx, engine.Options{NATS: natsd.Config{DataDir: dir}, Plugins: builtin.Plugins(), DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func stop(t *testing.T, eng *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eng.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

const orderSchema = `{"type":"record","name":"Order","fields":[
  {"name":"id","type":"long"},{"name":"customer","type":"string"},{"name":"amount","type":"double"}]}`

// An Avro topic: JSON lines in, Avro with the Confluent wire format in the log,
// JSON lines out; the registry keeps its ids across a restart.
func TestAvroPipelineAndRegistryRestart(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "orders.jsonl")
	var lines []string
	for i := 1; i <= 300; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":%d,"customer":"c%d","amount":%d.5}`, i, i%9, i))
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	yaml := fmt.Sprintf(`version: 1
name: avro
topics:
  orders: { partitions: 2, schema: { format: avro, subject: orders-value } }
sources:
  in: { connector: file, topic: orders, config: { path: %q, format: jsonl } }
sinks:
  out: { connector: file, topics: [orders], config: { path: %q, format: jsonl } }
`, in, out)
	eng := start(t, filepath.Join(dir, "data"))
	ctx := context.Background()
	id, err := eng.Schemas.Register(ctx, "orders-value", registry.Schema{Schema: orderSchema}, registry.RegisterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, lints := pipelines.Parse("avro.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
	if len(lints) > 0 {
		t.Fatalf("lints: %v", lints)
	}
	if _, err := eng.Apply(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := eng.Worker.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}
	// The log holds Avro in the Confluent wire format with the registered id.
	r, err := eng.Log.NewReader(ctx, "orders", 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := r.Fetch(ctx, 1, 1<<20, time.Second)
	r.Close()
	if err != nil || len(recs) == 0 {
		t.Fatalf("fetch: %v (%d records)", err, len(recs))
	}
	gotID, _, err := wire.Parse(recs[0].Value)
	if err != nil || gotID != id {
		t.Fatalf("record in the log: schema id %d (%v), want %d", gotID, err, id)
	}
	// The sink wrote every order back as JSON, values intact.
	got := readJSONLines(t, out)
	if len(got) != 300 {
		t.Fatalf("sink has %d orders, want 300", len(got))
	}
	for i, m := range got {
		want := fmt.Sprintf(`{"amount":%d.5,"customer":"c%d","id":%d}`, i+1, (i+1)%9, i+1)
		if b, _ := json.Marshal(m); string(b) != want {
			t.Fatalf("order %d: %s, want %s", i+1, b, want)
		}
	}
	stop(t, eng)

	eng = start(t, filepath.Join(dir, "data"))
	defer stop(t, eng)
	v, err := eng.Schemas.Version(ctx, "orders-value", -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != id || v.Version != 1 {
		t.Fatalf("after restart: id %d version %d, want id %d version 1", v.ID, v.Version, id)
	}
}

func readJSONLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	var out []map[string]any
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, m)
		}
		fh.Close()
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["id"].(float64) < out[j]["id"].(float64) })
	return out
}
