package kafka

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/braidhq/braid/schema/registry"
	confluent "github.com/braidhq/braid/schema/wire"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

const orderSchema = `{"type":"record","name":"Order","fields":[
  {"name":"id","type":"long"},{"name":"customer","type":"string"},{"name":"amount","type":"double"}]}`

type order struct {
	ID       int64   `avro:"id" json:"id"`
	Customer string  `avro:"customer" json:"customer"`
	Amount   float64 `avro:"amount" json:"amount"`
}

// TestConfluentAvroFromKafka: a Kafka producer serializes Avro the way
// Confluent's serializer does (magic byte, schema id from Braid's registry,
// Avro body); Braid's avro topic decodes it for a file sink that writes
// JSON, and a Kafka consumer reads the same bytes back.
func TestConfluentAvroFromKafka(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	eng, srv := startPipeline(t, fmt.Sprintf(`version: 1
name: confluent
topics:
  orders: { partitions: 2, schema: { format: avro, subject: orders-value } }
sinks:
  out: { connector: file, topics: [orders], config: { path: %q, format: jsonl } }
`, out))
	ctx := ctxT(t, 60*time.Second)
	id, err := eng.Schemas.Register(ctx, "orders-value", registry.Schema{Schema: orderSchema}, registry.RegisterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sch := avro.MustParse(orderSchema)
	const n = 200
	p := client(t, srv, kgo.DefaultProduceTopic("orders"))
	sent := map[string][]byte{}
	for i := 1; i <= n; i++ {
		body, err := avro.Marshal(sch, order{ID: int64(i), Customer: fmt.Sprintf("c%d", i%7), Amount: float64(i) + 0.25})
		if err != nil {
			t.Fatal(err)
		}
		v := append(confluent.AppendHeader(nil, id), body...)
		sent[fmt.Sprint(i)] = v
		if err := p.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "%d", i), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The sink decoded every record with the registry's schema.
	var got []order
	waitFor(t, 30*time.Second, "the sink's orders", func() bool {
		got = readOrders(t, out)
		return len(got) >= n
	})
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	if len(got) != n {
		t.Fatalf("the sink wrote %d orders, want %d", len(got), n)
	}
	for i, o := range got {
		if want := (order{int64(i + 1), fmt.Sprintf("c%d", (i+1)%7), float64(i+1) + 0.25}); o != want {
			t.Fatalf("order %d: %+v, want %+v", i+1, o, want)
		}
	}
	// A Kafka consumer gets the producer's bytes unchanged.
	c := client(t, srv, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for seen := 0; seen < n; {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", seen, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(sent[string(r.Key)]) != string(r.Value) {
				t.Fatalf("record %s: %x, produced %x", r.Key, r.Value, sent[string(r.Key)])
			}
			seen++
		})
	}
}

func readOrders(t *testing.T, dir string) []order {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	var out []order
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var o order
			if json.Unmarshal(sc.Bytes(), &o) == nil {
				out = append(out, o)
			}
		}
		fh.Close()
	}
	return out
}
