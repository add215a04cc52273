package logtest

import (
	"errors"
	"testing"

	"github.com/braidhq/braid/runtime/log"
)

// testWriter: a fenced writer appends a chain whose end (the last batch's
// meta) is found again by a new writer; a second writer of the same
// producer that did not see the latest fence is refused with ErrFenced and
// stores nothing; the records of every accepted batch are readable.
func testWriter(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	topic := newTopic(t, l, log.TopicConfig{Partitions: 3})
	meta := func(pos string) []log.Header { return []log.Header{{Key: "pos", Value: pos}} }

	a, end, err := l.OpenWriter(ctx, topic, "p.w.0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	if end.Found {
		t.Fatalf("a new topic has a chain end: %+v", end)
	}
	stale, _, err := l.OpenWriter(ctx, topic, "p.w.0")
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close(ctx)
	for i, pos := range []string{"10", "20"} {
		recs, err := a.Write(ctx, log.Batch{Records: part0(10), Meta: meta(pos), Atomic: l.Atomic()})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if len(recs) != 10 || recs[0].Offset < 0 {
			t.Fatalf("write %d: records %+v", i, recs[:1])
		}
	}
	// The stale writer opened before both writes: refused, nothing stored.
	_, err = stale.Write(ctx, log.Batch{Records: part0(10), Meta: meta("stale"), Atomic: l.Atomic()})
	if !errors.Is(err, log.ErrFenced) {
		t.Fatalf("a writer behind the chain wrote: err %v, want ErrFenced", err)
	}
	b, end, err := l.OpenWriter(ctx, topic, "p.w.0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if !end.Found || len(end.Meta) != 1 || end.Meta[0].Value != "20" {
		t.Fatalf("chain end: %+v, want the meta of the last accepted batch (20)", end)
	}
	// Another producer's chain in the same topic is independent.
	other, oend, err := l.OpenWriter(ctx, topic, "p.other.0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if oend.Found {
		t.Fatalf("another producer sees this chain's end: %+v", oend)
	}
	if _, err := other.Write(ctx, log.Batch{Records: part0(5), Meta: meta("5"), Atomic: l.Atomic()}); err != nil {
		t.Fatal(err)
	}
	// 2 batches of 10 and one of 5; the fenced one is absent (readAll
	// fails on a record more than expected) where batches are atomic. On
	// servers without atomic batches a writer stores its records before its
	// fence, so the stale writer's 10 are there, unfenced (Writer.Write:
	// at least once there).
	want := 25
	if !l.Atomic() {
		want = 35
	}
	readAll(t, l, topic, 0, log.Earliest, want)
}

// part0 is n records for partition 0.
func part0(n int) []log.Record {
	recs := seqRecords(n, nil)
	for i := range recs {
		recs[i].Partition = 0
	}
	return recs
}
