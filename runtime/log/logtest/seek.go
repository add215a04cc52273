package logtest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
)

// testSeek covers Latest, Seek, OffsetForTime and out-of-range offsets.
func testSeek(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 1})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	a := publish(t, p, log.Batch{Topic: name, Records: seqRecords(10, nil)})
	between := time.Now()
	b := publish(t, p, log.Batch{Topic: name, Records: seqRecords(5, nil)})

	off, err := l.OffsetForTime(ctx, name, 0, between)
	if err != nil || off != b[0].Offset {
		t.Fatalf("OffsetForTime(between batches) = %d, %v; want %d", off, err, b[0].Offset)
	}
	end, err := l.OffsetForTime(ctx, name, 0, time.Now().Add(time.Hour))
	if err != nil || end <= b[4].Offset {
		t.Fatalf("OffsetForTime(future) = %d, %v; want past %d", end, err, b[4].Offset)
	}

	latest, err := l.NewReader(ctx, name, 0, log.Latest)
	if err != nil {
		t.Fatal(err)
	}
	defer latest.Close()
	if recs, err := latest.Fetch(ctx, 10, 0, 100*time.Millisecond); err != nil || len(recs) != 0 {
		t.Fatalf("reader at Latest returned %d old records, %v", len(recs), err)
	}
	c := publish(t, p, log.Batch{Topic: name, Records: seqRecords(2, nil)})
	recs, err := latest.Fetch(ctx, 10, 0, 5*time.Second)
	if err != nil || len(recs) == 0 || recs[0].Offset != c[0].Offset {
		t.Fatalf("reader at Latest: %v, %v; want the new record at %d", recs, err, c[0].Offset)
	}
	if err := latest.Seek(ctx, a[5].Offset); err != nil {
		t.Fatal(err)
	}
	recs, err = latest.Fetch(ctx, 1, 0, 5*time.Second)
	if err != nil || len(recs) != 1 || recs[0].Offset != a[5].Offset {
		t.Fatalf("after Seek to %d: %v, %v", a[5].Offset, recs, err)
	}
	far := int64(1 << 40)
	if _, err := l.NewReader(ctx, name, 0, far); !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("reader past the end: %v, want ErrOffsetOutOfRange", err)
	}
	if _, err := l.NewReader(ctx, name, 3, log.Earliest); err == nil {
		t.Fatal("reader on a partition the topic lacks")
	}
}

// testConcurrentProducers publishes from several goroutines at once and
// checks nothing is lost or duplicated.
func testConcurrentProducers(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 2})
	p := l.Producer(log.ProducerOptions{MaxInFlight: 2})
	defer p.Close(ctx)
	const writers, batches, per = 4, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	var pmu sync.Mutex
	var pends []*log.Pending
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				recs := make([]log.Record, per)
				for i := range recs {
					recs[i] = log.Record{Partition: -1, Key: fmt.Appendf(nil, "w%d", w), Value: fmt.Appendf(nil, "%d-%d-%d", w, b, i)}
				}
				pend, err := p.Publish(ctx, log.Batch{Topic: name, Records: recs})
				if err != nil {
					errs <- err
					return
				}
				pmu.Lock()
				pends = append(pends, pend)
				pmu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pend := range pends {
		if _, err := pend.Wait(ctx); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	ti, err := l.Topic(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, pi := range ti.Partitions {
		if pi.Messages == 0 {
			continue
		}
		r, err := l.NewReader(ctx, name, pi.Partition, log.Earliest)
		if err != nil {
			t.Fatal(err)
		}
		for {
			recs, err := r.Fetch(ctx, 1000, 0, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, rec := range recs {
				if seen[string(rec.Value)] {
					t.Fatalf("record %s stored twice", rec.Value)
				}
				seen[string(rec.Value)] = true
			}
		}
		r.Close()
	}
	if len(seen) != writers*batches*per {
		t.Fatalf("read %d records, published %d", len(seen), writers*batches*per)
	}
}

// testClosed checks that a closed log refuses work with ErrClosed.
func testClosed(t *testing.T, h Harness) {
	l := h.Open(t)
	ctx := ctxFor(t)
	name := newTopic(t, open(t, h), log.TopicConfig{Partitions: 1})
	p := l.Producer(log.ProducerOptions{})
	r, err := l.NewReader(ctx, name, 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, log.Batch{Topic: name, Records: seqRecords(1, nil)}); !errors.Is(err, log.ErrClosed) {
		t.Fatalf("publish after Close: %v, want ErrClosed", err)
	}
	if _, err := r.Fetch(ctx, 1, 0, time.Millisecond); !errors.Is(err, log.ErrClosed) {
		t.Fatalf("fetch after Close: %v, want ErrClosed", err)
	}
	if _, err := l.NewReader(ctx, name, 0, log.Earliest); !errors.Is(err, log.ErrClosed) {
		t.Fatalf("new reader after Close: %v, want ErrClosed", err)
	}
}
