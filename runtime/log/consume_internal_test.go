package log

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/natsd"
	"github.com/nats-io/nats.go/jetstream"
)

// queued returns a reader over a feed holding chunks of the given sizes
// (records of 10 value bytes, offsets counting from 0); no pump runs.
func queued(sizes ...int) *Reader {
	f := &feed{done: make(chan struct{}), ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	off := int64(0)
	for _, n := range sizes {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Value: make([]byte, 10), Offset: off}
			off++
		}
		f.q = append(f.q, chunk{recs: recs, bytes: 10 * n})
		f.bytes += 10 * n
	}
	return &Reader{feed: f}
}

func fetchN(t *testing.T, r *Reader, max, maxBytes int) []Record {
	t.Helper()
	recs, err := r.Fetch(t.Context(), max, maxBytes, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Offset != recs[i-1].Offset+1 {
			t.Fatalf("offsets out of order: %d after %d", recs[i].Offset, recs[i-1].Offset)
		}
	}
	return recs
}

func TestFetchJoinsSmallChunksOnly(t *testing.T) {
	r := queued(3, 2, 600, 1, 1)
	steps := []struct {
		max, maxBytes, want int
		first               int64
	}{
		{10, 0, 5, 0},      // 3 + 2 joined; 600 is too big to copy behind them
		{10, 0, 10, 5},     // a slice of the big chunk, not a copy
		{1000, 0, 592, 15}, // its rest, then the two small ones
		{10, 0, 0, 0},      // empty after maxWait
	}
	for i, s := range steps {
		recs := fetchN(t, r, s.max, s.maxBytes)
		if len(recs) != s.want || (s.want > 0 && recs[0].Offset != s.first) {
			t.Fatalf("step %d: got %d records from %v, want %d from %d", i, len(recs), firstOffset(recs), s.want, s.first)
		}
	}
}

func TestFetchSliceIsNotAppendable(t *testing.T) {
	r := queued(100)
	a := fetchN(t, r, 10, 0)
	_ = append(a, Record{Offset: -5}) // must not overwrite the next record
	if b := fetchN(t, r, 10, 0); b[0].Offset != 10 {
		t.Fatalf("next record offset %d, want 10", b[0].Offset)
	}
}

func TestFetchMaxBytes(t *testing.T) {
	r := queued(2, 2, 4)
	if recs := fetchN(t, r, 100, 25); len(recs) != 2 {
		t.Fatalf("got %d records within 25 bytes, want 2", len(recs))
	}
	// The second chunk, then the third does not fit whole in the 15 bytes left.
	if recs := fetchN(t, r, 100, 35); len(recs) != 2 {
		t.Fatalf("got %d records within 35 bytes, want 2", len(recs))
	}
	if recs := fetchN(t, r, 100, 5); len(recs) != 1 { // always at least one
		t.Fatalf("got %d records within 5 bytes, want 1", len(recs))
	}
}

func TestFetchReturnsRecordsBeforeTheFeedError(t *testing.T) {
	r := queued(3)
	boom := errors.New("boom")
	r.feed.q = append(r.feed.q, chunk{err: boom})
	if recs := fetchN(t, r, 10, 0); len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	for range 2 { // the error sticks
		if _, err := r.Fetch(t.Context(), 10, 0, time.Millisecond); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
	}
}

func TestFetchWakesOnPush(t *testing.T) {
	r := queued()
	go func() {
		time.Sleep(20 * time.Millisecond) // the reader must be waiting already
		r.feed.push(chunk{recs: []Record{{Offset: 7}}, bytes: 1})
	}()
	start := time.Now()
	recs, err := r.Fetch(t.Context(), 10, 0, 10*time.Second)
	if err != nil || len(recs) != 1 || recs[0].Offset != 7 {
		t.Fatalf("got %v, %v", recs, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("woke after %v, not on the push", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Fetch(ctx, 10, 0, 10*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestFeedPushWaitsForSpace(t *testing.T) {
	f := &feed{done: make(chan struct{}), ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	f.push(chunk{recs: make([]Record, 1), bytes: queueBytes})
	pushed := make(chan bool)
	go func() { pushed <- f.push(chunk{recs: make([]Record, 1), bytes: 1}) }()
	select {
	case <-pushed:
		t.Fatal("push into a full queue did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	if _, ok := f.pop(); !ok {
		t.Fatal("queue empty")
	}
	if !<-pushed {
		t.Fatal("push failed after space was made")
	}
	f.bytes = queueBytes // full again: a stop releases the waiting pump
	go func() { pushed <- f.push(chunk{recs: make([]Record, 1), bytes: 1}) }()
	close(f.done)
	if <-pushed {
		t.Fatal("push succeeded after stop")
	}
}

func firstOffset(recs []Record) any {
	if len(recs) == 0 {
		return "none"
	}
	return recs[0].Offset
}

// A message the consumer delivers again (an ordered consumer's reset) is
// never handed out twice: the feed skips offsets it already decoded.
func TestFeedSkipsRedelivered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	l, err := Open(ctx, conn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "redeliver", TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p := l.Producer(ProducerOptions{})
	for range 2 {
		recs := make([]Record, 5)
		for i := range recs {
			recs[i] = Record{Value: []byte("v")}
		}
		pend, err := p.Publish(ctx, Batch{Topic: "redeliver", Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pend.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Close(ctx)
	s, err := l.js.Stream(ctx, StreamName("redeliver"))
	if err != nil {
		t.Fatal(err)
	}
	msgAt := func(seq uint64) jetstream.Msg {
		c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq})
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	f := &feed{topic: "redeliver", partition: 0}
	for i, step := range []struct {
		seq   uint64
		want  int
		first int64
	}{{1, 5, 0}, {1, 0, 0}, {2, 5, 5}, {1, 0, 0}, {2, 0, 0}} {
		c := f.decode(msgAt(step.seq))
		if c.err != nil || len(c.recs) != step.want || (step.want > 0 && c.recs[0].Offset != step.first) {
			t.Fatalf("step %d (seq %d): %d records from %v (%v), want %d from %d", i, step.seq, len(c.recs), firstOffset(c.recs), c.err, step.want, step.first)
		}
	}
}
