package logtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
)

// Dense offsets: in each partition the first record has offset 0 and each
// next record the previous offset + 1, whoever writes.

// testDenseOffsets publishes from 1, 2 and 4 concurrent producers (on one
// connection and, when the harness can, on separate ones), in batches of
// random sizes, and checks every partition holds offsets exactly 0..n-1 with
// every record once, at the offset its producer was told.
func testDenseOffsets(t *testing.T, h Harness) {
	for _, producers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("%dProducers", producers), func(t *testing.T) {
			l := open(t, h)
			ctx := ctxFor(t)
			name := newTopic(t, l, log.TopicConfig{Partitions: 3})
			const per = 3000
			type at struct {
				p   int32
				off int64
			}
			var mu sync.Mutex
			told := map[string]at{}
			var wg sync.WaitGroup
			errs := make(chan error, producers)
			for i := range producers {
				pl := l
				if h.Connect != nil && i%2 == 1 {
					pl = h.Connect(t) // a separate connection: another process, as far as the server can tell
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := pl.Producer(log.ProducerOptions{MaxInFlight: 8})
					defer p.Close(ctx)
					rng := rand.New(rand.NewPCG(uint64(i), 7))
					for n := 0; n < per; {
						size := min(1+rng.IntN(300), per-n)
						recs := make([]log.Record, size)
						for j := range recs {
							recs[j] = log.Record{Partition: -1, Value: fmt.Appendf(nil, "p%d-%d", i, n+j)}
						}
						n += size
						pend, err := p.Publish(ctx, log.Batch{Topic: name, Records: recs})
						if err == nil {
							recs, err = pend.Wait(ctx)
						}
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						for _, r := range recs {
							told[string(r.Value)] = at{r.Partition, r.Offset}
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("publish: %v", err)
			}
			total := 0
			CheckDense(t, l, name, func(r log.Record) {
				if w, ok := told[string(r.Value)]; !ok || w != (at{r.Partition, r.Offset}) {
					t.Fatalf("partition %d offset %d: %q was reported at %+v (known: %v)", r.Partition, r.Offset, r.Value, w, ok)
				}
				total++
			})
			ti, err := l.Topic(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, pi := range ti.Partitions {
				if pi.FirstOffset != 0 || pi.LastOffset != pi.EndOffset-1 {
					t.Fatalf("partition %+v: want first 0 and last = end-1", pi)
				}
			}
			if total != producers*per || len(told) != producers*per {
				t.Fatalf("%d records stored, %d acknowledged, want %d", total, len(told), producers*per)
			}
		})
	}
}

// testSeekInsideBatch starts readers at offsets inside stored batches, at
// batch boundaries and at the end.
func testSeekInsideBatch(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 1})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	rng := rand.New(rand.NewPCG(3, 4))
	n := 0
	for range 20 {
		size := 1 + rng.IntN(150)
		recs := make([]log.Record, size)
		for j := range recs {
			recs[j] = log.Record{Partition: 0, Value: fmt.Appendf(nil, "%d", n+j)}
		}
		publish(t, p, log.Batch{Topic: name, Records: recs})
		n += size
	}
	offsets := []int64{0, 1, int64(n - 1)}
	for range 40 {
		offsets = append(offsets, rng.Int64N(int64(n)))
	}
	for _, off := range offsets {
		r, err := l.NewReader(ctx, name, 0, off)
		if err != nil {
			t.Fatalf("reader at %d: %v", off, err)
		}
		recs, err := r.Fetch(ctx, 1, 0, 5*time.Second)
		r.Close()
		if err != nil || len(recs) != 1 || recs[0].Offset != off || string(recs[0].Value) != fmt.Sprint(off) {
			all := readAll(t, l, name, 0, log.Earliest, n)
			var bad []string
			for i, r := range all {
				if r.Offset != int64(i) || string(r.Value) != fmt.Sprint(i) {
					bad = append(bad, fmt.Sprintf("%d:%d=%s", i, r.Offset, r.Value))
				}
			}
			t.Fatalf("reader at %d: %v, %v (bad: %v)", off, recs, err, bad)
		}
	}
	// At the end: the next record written.
	r, err := l.NewReader(ctx, name, 0, int64(n))
	if err != nil {
		t.Fatalf("reader at the end %d: %v", n, err)
	}
	defer r.Close()
	publish(t, p, log.Batch{Topic: name, Records: []log.Record{{Partition: 0, Value: []byte("next")}}})
	recs, err := r.Fetch(ctx, 10, 0, 5*time.Second)
	if err != nil || len(recs) != 1 || recs[0].Offset != int64(n) || string(recs[0].Value) != "next" {
		t.Fatalf("reader at the end: %v, %v", recs, err)
	}
}

// testLagExact checks lag is exact with a million records behind.
func testLagExact(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 2})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	const total, batch = 1_000_000, 20_000
	val := []byte("12345678")
	var pend []*log.Pending
	for n := 0; n < total; n += batch {
		recs := make([]log.Record, batch)
		for j := range recs {
			recs[j] = log.Record{Partition: int32(j % 2), Value: val}
		}
		pd, err := p.Publish(ctx, log.Batch{Topic: name, Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, pd)
	}
	for _, pd := range pend {
		if _, err := pd.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	group := uniqueName("lag")
	check := func(want0, want1 int64) {
		t.Helper()
		lag, err := l.Lag(ctx, group, name)
		if err != nil || lag[0] != want0 || lag[1] != want1 {
			t.Fatalf("lag = %v, %v; want [%d %d]", lag, err, want0, want1)
		}
	}
	check(total/2, total/2)
	if err := l.CommitOffset(ctx, group, name, 0, 123_456); err != nil {
		t.Fatal(err)
	}
	check(total/2-123_457, total/2)
	if err := l.CommitOffset(ctx, group, name, 1, total/2-1); err != nil {
		t.Fatal(err)
	}
	check(total/2-123_457, 0)
	t.Cleanup(func() { _ = l.DeleteOffsets(ctx, group, name) })
}

// testOutOfRange removes the oldest records by max_bytes and checks a reader
// below the first offset, or beyond the end, gets a clear error naming both.
func testOutOfRange(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 1, MaxBytes: 64 << 10, Discard: log.DiscardOld, Compression: "none"})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	for range 40 {
		recs := seqRecords(10, nil)
		for i := range recs {
			recs[i].Value = make([]byte, 1000)
		}
		publish(t, p, log.Batch{Topic: name, Records: recs})
	}
	ti, err := l.Topic(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	pi := ti.Partitions[0]
	if pi.FirstOffset <= 0 || pi.EndOffset != 400 {
		t.Fatalf("after retention: %+v, want first > 0 and end 400", pi)
	}
	for _, off := range []int64{0, pi.FirstOffset - 1, pi.EndOffset + 1} {
		_, err := l.NewReader(ctx, name, 0, off)
		var re *log.OffsetRangeError
		if !errors.As(err, &re) || !errors.Is(err, log.ErrOffsetOutOfRange) || re.First != pi.FirstOffset || re.End != 400 {
			t.Fatalf("reader at %d: %v; want an OffsetRangeError with first %d, end 400", off, err, pi.FirstOffset)
		}
		if !strings.Contains(err.Error(), fmt.Sprint(pi.FirstOffset)) {
			t.Fatalf("the error does not name the first offset: %v", err)
		}
	}
	got := readAll(t, l, name, 0, pi.FirstOffset, int(400-pi.FirstOffset))
	if got[0].Offset != pi.FirstOffset {
		t.Fatalf("reader at the first offset started at %d", got[0].Offset)
	}
}

// testEndSurvivesRetention empties a partition by retention and checks the
// next record written to it (by a fresh handle, which knows nothing) gets
// the offset after the removed ones, not 0.
func testEndSurvivesRetention(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 2, MaxBytes: 64 << 10, Discard: log.DiscardOld, Compression: "none"})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	publish(t, p, log.Batch{Topic: name, Records: []log.Record{{Partition: 0, Value: []byte("a")}, {Partition: 0, Value: []byte("b")}}})
	time.Sleep(300 * time.Millisecond) // the end is recorded within 100 ms, off the write path
	for range 100 {
		publish(t, p, log.Batch{Topic: name, Records: []log.Record{{Partition: 1, Value: make([]byte, 1000)}}})
	}
	ti, err := l.Topic(ctx, name)
	if err != nil || ti.Partitions[0].Messages != 0 || ti.Partitions[0].EndOffset != 2 {
		t.Fatalf("partition 0 after retention: %+v, %v; want no messages and end 2", ti.Partitions, err)
	}
	fresh := open(t, h)
	fp := fresh.Producer(log.ProducerOptions{})
	defer fp.Close(ctx)
	got := publish(t, fp, log.Batch{Topic: name, Records: []log.Record{{Partition: 0, Value: []byte("c")}}})
	if got[0].Offset != 2 {
		t.Fatalf("the record after an emptied partition got offset %d, want 2", got[0].Offset)
	}
}

// CheckDense reads every partition of topic from its first offset to its
// end and fails t unless the offsets are exactly first..end-1 (0..end-1 when
// nothing was removed): none repeated, skipped or backwards. visit, when
// set, sees each record. It returns the records read per partition.
func CheckDense(t testing.TB, l *log.Log, topic string, visit func(log.Record)) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ti, err := l.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, p := range ti.Partitions {
		next := max(p.FirstOffset, 0)
		if p.FirstOffset < 0 {
			next = p.EndOffset
		}
		r, err := l.NewReader(ctx, topic, p.Partition, next)
		if err != nil {
			t.Fatal(err)
		}
		for next < p.EndOffset {
			recs, err := r.Fetch(ctx, 5000, 0, 5*time.Second)
			if err != nil || len(recs) == 0 {
				r.Close()
				t.Fatalf("partition %d: read stopped at offset %d of %d: %v", p.Partition, next, p.EndOffset, err)
			}
			for _, rec := range recs {
				if rec.Offset != next {
					r.Close()
					t.Fatalf("partition %d: offset %d where %d was next", p.Partition, rec.Offset, next)
				}
				next++
				if visit != nil {
					visit(rec)
				}
			}
		}
		r.Close()
		out[p.Partition] = p.EndOffset - max(p.FirstOffset, 0)
	}
	return out
}
