package kafka

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceConsumeCodecs produces with every compression codec through
// franz-go (idempotent, acks=all: its defaults) and reads every record back,
// exactly once and in order, with franz-go and with Braid's own reader.
func TestProduceConsumeCodecs(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := newTopic(t, l, 3)
			ctx := ctxT(t, 60*time.Second)
			p := client(t, s, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
			const n = 3000
			for i := range n {
				r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%17), Value: bytes.Repeat([]byte{byte(i)}, 100+i%300),
					Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}}}
				p.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			c := client(t, s, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			seen := map[string]bool{}
			next := map[int32]int64{}
			for len(seen) < n {
				fs := c.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("got %d of %d records: %v", len(seen), n, err)
				}
				fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
				fs.EachRecord(func(r *kgo.Record) {
					if r.Offset != next[r.Partition] {
						t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
					}
					next[r.Partition]++
					id := string(r.Headers[0].Value)
					if seen[id] {
						t.Fatalf("record %s twice", id)
					}
					seen[id] = true
					var i int
					fmt.Sscan(id, &i)
					if string(r.Key) != fmt.Sprintf("k%d", i%17) || len(r.Value) != 100+i%300 || r.Value[0] != byte(i) {
						t.Fatalf("record %s: key %q value of %d bytes", id, r.Key, len(r.Value))
					}
					if wantP := log.KeyPartition(r.Key, 3); wantP != r.Partition {
						t.Fatalf("key %q in partition %d, murmur2 says %d", r.Key, r.Partition, wantP)
					}
				})
			}
			ti, err := l.Topic(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			var stored int64
			for _, p := range ti.Partitions {
				stored += p.EndOffset
			}
			if stored != n {
				t.Fatalf("the log holds %d records, want %d", stored, n)
			}
		})
	}
}
