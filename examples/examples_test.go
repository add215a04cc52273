package examples_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// catalog is what `braid run` and `braid lint` check pipeline files against.
func catalog() pipelines.Catalog {
	builtin.RegisterConverters()
	return engine.Catalog(builtin.Plugins())
}

// Every example's pipeline file lints clean with the real catalog and the
// defaults of its ${...} settings.
func TestPipelinesLint(t *testing.T) {
	files, err := filepath.Glob("*/pipeline*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example pipeline files (%v); expected quickstart and seed at least", len(files), files)
	}
	cat := catalog()
	noEnv := func(string) (string, bool) { return "", false }
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, lints := pipelines.Parse(f, data, cat, noEnv)
		for _, l := range lints {
			t.Errorf("%s", l.String())
		}
		if p != nil && len(p.Connectors()) == 0 {
			t.Errorf("%s: no connectors", f)
		}
	}
}

// startEngine runs an engine with the built-in connectors on a fresh data
// dir, closed when the test ends.
func startEngine(t *testing.T, dataDir string) *engine.Engine {
	t.Helper()
	builtin.RegisterConverters()
	eng, err := engine.Start(t.Context(), engine.Options{Plugins: builtin.Plugins(), DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeEngine(t, eng) })
	return eng
}

func closeEngine(t *testing.T, eng *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := eng.Close(ctx); err != nil {
		t.Errorf("close engine: %v", err)
	}
}

// applyFile parses data as the pipeline file name with env and applies it.
func applyFile(t *testing.T, eng *engine.Engine, name string, data []byte, env map[string]string) *pipelines.Pipeline {
	t.Helper()
	p, lints := pipelines.Parse(name, data, eng.Catalog(), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if len(lints) > 0 {
		for _, l := range lints {
			t.Error(l.String())
		}
		t.FailNow()
	}
	if _, err := eng.Apply(t.Context(), p, false); err != nil {
		t.Fatalf("apply %s: %v", name, err)
	}
	return p
}

// replaceAll replaces each old with its new in s, failing when one is absent
// (the example changed and the test would silently write into the repository).
func replaceAll(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("the pipeline file no longer contains %q", pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

type order struct {
	ID        int     `json:"id"`
	Customer  string  `json:"customer"`
	Amount    float64 `json:"amount"`
	FlaggedBy string  `json:"flagged_by"`
}

// readJSONLines decodes every line of the files matching glob.
func readJSONLines[T any](t *testing.T, glob string) []T {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for line := 1; sc.Scan(); line++ {
			var v T
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s:%d: %v", f, line, err)
			}
			out = append(out, v)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The quick start runs to completion (--once) in-process: all 200 orders in
// the all-orders sink, exactly the orders above 100 in the big-orders sink.
func TestQuickstartRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	input, err := filepath.Abs("quickstart/orders.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("quickstart/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := replaceAll(t, string(data),
		"examples/quickstart/orders.jsonl", input,
		"data/quickstart/out", filepath.Join(dir, "out"))
	eng := startEngine(t, filepath.Join(dir, "log"))
	applyFile(t, eng, filepath.Join(dir, "pipeline.yaml"), []byte(yaml), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := eng.Worker.WaitIdle(ctx); err != nil {
		t.Fatalf("quickstart did not finish: %v", err)
	}

	orders := readJSONLines[order](t, input)
	if len(orders) != 200 {
		t.Fatalf("quickstart/orders.jsonl has %d orders, the README promises 200", len(orders))
	}
	var wantAll, wantBig []int
	for _, o := range orders {
		wantAll = append(wantAll, o.ID)
		if o.Amount > 100 {
			wantBig = append(wantBig, o.ID)
		}
	}
	all := readJSONLines[order](t, filepath.Join(dir, "out", "all", "*.jsonl"))
	big := readJSONLines[order](t, filepath.Join(dir, "out", "big", "*.jsonl"))
	checkIDs(t, "all-orders", ids(all), wantAll)
	checkIDs(t, "big-orders", ids(big), wantBig)
	for _, o := range big {
		if o.FlaggedBy != "quickstart" {
			t.Fatalf("big-orders: order %d has flagged_by %q, want quickstart", o.ID, o.FlaggedBy)
		}
	}
}

func ids(orders []order) []int {
	out := make([]int, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}

// checkIDs compares got and want as sets that must not repeat an id.
func checkIDs(t *testing.T, sink string, got, want []int) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %d records %v,\nwant %d: %v", sink, len(got), got, len(want), want)
	}
}

// The Kafka example: records a Kafka producer writes reach the file sink,
// and a Kafka consumer group reads them all back.
func TestKafkaExampleRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, err := os.ReadFile("kafka/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := replaceAll(t, string(data), "data/kafka/out", filepath.Join(dir, "out"))
	eng := startEngine(t, filepath.Join(dir, "log"))
	p := applyFile(t, eng, filepath.Join(dir, "pipeline.yaml"), []byte(yaml), nil)
	if p.Kafka == nil || p.Kafka.Listen != "127.0.0.1:9092" {
		t.Fatalf("kafka.listen: %+v", p.Kafka)
	}
	// braid run would listen on kafka.listen; the test takes a free port.
	srv := kafka.New(eng.Log, kafka.Options{Addr: "127.0.0.1:0"})
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr()), kgo.DefaultProduceTopic("clicks"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 100
	for i := 1; i <= n; i++ {
		v := fmt.Sprintf(`{"user":"u%d","page":"/p/%d"}`, i%7, i)
		prod.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "u%d", i%7), Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	type click struct {
		User, Page string
	}
	waitCaughtUp(t, eng, sdk.DefaultGroup(p.Name, "clicks-file"), "clicks")
	got := readJSONLines[click](t, filepath.Join(dir, "out", "*.jsonl"))
	pages := map[string]bool{}
	for _, c := range got {
		pages[c.Page] = true
	}
	if len(got) != n || len(pages) != n {
		t.Fatalf("the sink has %d clicks (%d distinct pages), want %d", len(got), len(pages), n)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr()), kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("clicks"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	read := map[string]bool{}
	for len(read) < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the consumer group read %d of %d", len(read), n)
		}
		fs.EachRecord(func(r *kgo.Record) { read[string(r.Value)] = true })
	}
}
