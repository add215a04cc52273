package kafka

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/twmb/franz-go/pkg/kgo"
)

const postgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// startPipeline runs a pipeline in an engine and serves Kafka on its log.
func startPipeline(t *testing.T, yaml string) (*engine.Engine, *Server) {
	t.Helper()
	builtin.RegisterConverters()
	eng, err := engine.Start(t.Context(), engine.Options{Plugins: builtin.Plugins(), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := eng.Close(ctx); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	p, lints := pipelines.Parse("kafka.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
	for _, l := range lints {
		t.Fatalf("%s\n%s", l.String(), yaml)
	}
	if _, err := eng.Apply(t.Context(), p, false); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return eng, testServer(t, eng.Log)
}

// TestPipelineKafkaToJDBC: a franz-go producer writes into a Braid topic
// over the Kafka protocol and Braid's jdbc-sink copies every record into
// PostgreSQL: counts and contents compared row by row.
func TestPipelineKafkaToJDBC(t *testing.T) {
	db, err := sql.Open("pgx", postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("PostgreSQL at 127.0.0.1:5432 is needed by this test: %v", err)
	}
	table := fmt.Sprintf("kafka_in_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { _, _ = db.Exec(`DROP TABLE IF EXISTS "` + table + `"`) })
	_, srv := startPipeline(t, fmt.Sprintf(`version: 1
name: kafka-jdbc
topics:
  kin: { partitions: 2 }
sinks:
  db:
    connector: jdbc-sink
    topics: [kin]
    config: { dsn: %q, insert.mode: upsert, pk.mode: record_value, pk.fields: [id], auto.create: true, table.name.format: %s }
`, postgresDSN, table))
	const n = 2000
	ctx := ctxT(t, 90*time.Second)
	p := client(t, srv, kgo.DefaultProduceTopic("kin"))
	for i := range n {
		v, _ := json.Marshal(map[string]any{"id": i, "name": fmt.Sprintf("n%d", i), "amount": i * 3})
		p.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "%d", i), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var rows int
	waitFor(t, 60*time.Second, fmt.Sprintf("%d rows in %s", n, table), func() bool {
		_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+table+`"`).Scan(&rows) // missing until the sink's first write
		return rows == n
	})
	var sumID, sumAmount int64
	var bad int
	if err := db.QueryRowContext(ctx, `SELECT SUM(id), SUM(amount), COUNT(*) FILTER (WHERE name <> 'n' || id::text) FROM "`+table+`"`).
		Scan(&sumID, &sumAmount, &bad); err != nil {
		t.Fatal(err)
	}
	if want := int64(n * (n - 1) / 2); sumID != want || sumAmount != 3*want || bad != 0 {
		t.Fatalf("sum(id) %d (want %d), sum(amount) %d (want %d), %d rows with a wrong name", sumID, want, sumAmount, 3*want, bad)
	}
}

// TestPipelineGeneratorToKafkaGroup: Braid's generator source writes a topic
// and a franz-go consumer group of two members reads every record exactly
// once, with the contents the generator made.
func TestPipelineGeneratorToKafkaGroup(t *testing.T) {
	const n = 1500
	_, srv := startPipeline(t, fmt.Sprintf(`version: 1
name: gen-kafka
topics:
  gen: { partitions: 4 }
sources:
  gen:
    connector: generator
    topic: gen
    config: { count: %d, template: '{"id":{{.N}},"kind":"gen"}', key: "{{.N}}" }
`, n))
	ctx := ctxT(t, 90*time.Second)
	type got struct {
		id     int
		member int
	}
	out := make(chan got, n*2)
	errs := make(chan error, 2)
	for m := range 2 {
		c := client(t, srv, kgo.ConsumerGroup("gen-readers"), kgo.ConsumeTopics("gen"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(8<<10))
		go func() {
			for ctx.Err() == nil {
				fs := c.PollFetches(ctx)
				fs.EachError(func(tp string, p int32, err error) {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("fetch %s/%d: %w", tp, p, err)
					}
				})
				fs.EachRecord(func(r *kgo.Record) {
					var v struct {
						ID   int    `json:"id"`
						Kind string `json:"kind"`
					}
					if err := json.Unmarshal(r.Value, &v); err != nil || v.Kind != "gen" || string(r.Key) != fmt.Sprint(v.ID) {
						errs <- fmt.Errorf("record %s/%d@%d: key %q value %q (%v)", r.Topic, r.Partition, r.Offset, r.Key, r.Value, err)
						return
					}
					out <- got{v.ID, m}
				})
			}
		}()
	}
	seen := map[int]bool{}
	members := map[int]int{}
	for len(seen) < n {
		select {
		case g := <-out:
			if seen[g.id] {
				t.Fatalf("record id %d read twice", g.id)
			}
			seen[g.id] = true
			members[g.member]++
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("read %d of %d records", len(seen), n)
		}
	}
	lo, hi := n, -1
	for id := range seen {
		lo, hi = min(lo, id), max(hi, id)
	}
	if hi-lo+1 != n {
		t.Fatalf("ids %d..%d: not %d consecutive ids", lo, hi, n)
	}
	t.Logf("members read %v records", members)
}
