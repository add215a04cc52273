package kafka

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceToFullTopic: a topic that refuses writes when full answers
// Kafka producers with a retriable error until their delivery timeout, then
// they report it. Every record is either acknowledged and stored, or
// reported failed: the stored records are exactly the acknowledged ones.
func TestProduceToFullTopic(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 60*time.Second)
	topic := fmt.Sprintf("full_%d", time.Now().UnixNano()%1e9)
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1, MaxBytes: 64 << 10, Discard: log.DiscardReject}); err != nil {
		t.Fatal(err)
	}
	p := client(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(3*time.Second),
		kgo.ProducerBatchMaxBytes(8<<10), kgo.ProducerLinger(0))
	const n = 2000
	var mu sync.Mutex
	acked := map[string]int64{}
	var failed int
	var lastErr error
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range n {
		wg.Add(1)
		// Random hex: the log compresses batches, zeros would all fit.
		p.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v-%05d-%016x%016x%016x%016x", i, rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				lastErr = err
				return
			}
			acked[string(r.Value)] = r.Offset
		})
	}
	wg.Wait()
	if failed == 0 || len(acked) == 0 {
		t.Fatalf("%d acknowledged, %d failed: want some of each (the topic holds ~64 KiB)", len(acked), failed)
	}
	if len(acked)+failed != n {
		t.Fatalf("%d acknowledged + %d failed ≠ %d produced", len(acked), failed, n)
	}
	if !errors.Is(lastErr, kerr.KafkaStorageError) && !errors.Is(lastErr, kgo.ErrRecordTimeout) {
		t.Errorf("failure %v: want KAFKA_STORAGE_ERROR or a delivery timeout", lastErr)
	}
	_, end, err := l.PartitionOffsets(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if end != int64(len(acked)) {
		t.Fatalf("the partition holds %d records, %d were acknowledged", end, len(acked))
	}
	r, err := l.NewReader(ctx, topic, 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for got := int64(0); got < end; {
		recs, err := r.Fetch(ctx, 1000, 0, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			off, ok := acked[string(rec.Value)]
			if !ok || off != rec.Offset {
				t.Fatalf("stored %q at %d: acknowledged %v at %d", rec.Value, rec.Offset, ok, off)
			}
			got++
		}
	}
	t.Logf("%d acknowledged and stored, %d reported failed (%v)", len(acked), failed, lastErr)
}
