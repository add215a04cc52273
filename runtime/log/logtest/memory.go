package logtest

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
)

// testBoundedMemory stores a backlog far larger than a reader's buffers and
// checks that a reader at its start does not pull the backlog into memory.
// The limit leaves room for an embedded server's block cache, which shares
// the heap with the reader.
func testBoundedMemory(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	const recSize, perBatch, batches = 1024, 1000, 32 // 32 MiB backlog
	name := newTopic(t, l, log.TopicConfig{Partitions: 1})
	p := l.Producer(log.ProducerOptions{MaxInFlight: 8})
	defer p.Close(ctx)
	rng := rand.NewChaCha8([32]byte{1})
	for range batches {
		recs := make([]log.Record, perBatch)
		for i := range recs {
			recs[i] = log.Record{Partition: 0, Value: make([]byte, recSize)}
			_, _ = rng.Read(recs[i].Value) // incompressible
		}
		if _, err := p.Publish(ctx, log.Batch{Topic: name, Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	base := heap()
	r, err := l.NewReader(ctx, name, 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The reader keeps ≤ 4 MiB in flight plus one decoded batch: the heap
	// must stay well below the 32 MiB backlog and flat while the reader moves
	// through it. An in-process server shares the heap, and its file store
	// caches every block read in the last 10 s (nats-server's own policy,
	// bounded by time, not by backlog), so there only the absolute bound holds.
	limit, drift := int64(24<<20), int64(6<<20)
	if h.ServerInProcess {
		drift = limit
	}
	total := perBatch * batches
	read := 0
	var first uint64
	for read < total {
		recs, err := r.Fetch(ctx, 100, 256<<10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			t.Fatalf("reader stalled after %d records", read)
		}
		read += len(recs)
		switch read {
		case 100:
			first = heap()
			if grew := int64(first) - int64(base); grew > limit {
				t.Fatalf("heap grew by %d MiB after reading 100 of %d records: the reader buffers the backlog", grew>>20, total)
			}
		case total / 2, total * 3 / 4:
			if grew := int64(heap()) - int64(first); grew > drift {
				t.Fatalf("heap grew by %d MiB between record 100 and %d: memory follows the backlog", grew>>20, read)
			}
		}
	}
}

func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
