package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchReadAhead: the answer read ahead of a consumer's next fetch is
// the one it would get anyway. Over one connection, fetches that continue
// where the last answer ended (the partitions in another order, as clients
// rotate them), that seek back, that skip ahead, and that wait for records
// produced after a read-ahead found none each get exactly the records from
// their offsets, and the read-ahead was used and discarded accordingly.
func TestFetchReadAhead(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	topic := newTopic(t, l, 2)
	ctx := ctxT(t, 60*time.Second)
	const n = 300
	value := func(p int32, off int64) string { return fmt.Sprintf("p%d-%05d", p, off) }
	prod := l.Producer(log.ProducerOptions{ID: "readahead"})
	defer prod.Close(context.Background())
	produce := func(p int32, from, to int64) {
		t.Helper()
		for off := from; off < to; off += 10 { // a stored message per 10 records
			var recs []log.Record
			for o := off; o < min(off+10, to); o++ {
				recs = append(recs, log.Record{Partition: p, Value: []byte(value(p, o))})
			}
			pend, err := prod.Publish(ctx, log.Batch{Topic: topic, Records: recs})
			if err == nil {
				_, err = pend.Wait(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 0, n)
	produce(1, 0, n)

	w := dialWire(t, s.Addr())
	next := map[int32]int64{}
	// fetch asks for the partitions at the offsets given, in that order,
	// and checks each answer holds consecutive records from its offset.
	request := func(wait int32, at ...[2]int64) *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, -1, wait, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for _, a := range at {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset = int32(a[0]), a[1], 1000, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = []kmsg.FetchRequestTopic{rt}
		return req
	}
	check := func(resp kmsg.Response, err error, at ...[2]int64) map[int32]int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		got := map[int32]int{}
		for _, a := range at {
			var part *kmsg.FetchResponseTopicPartition
			for i := range resp.(*kmsg.FetchResponse).Topics[0].Partitions {
				if p := &resp.(*kmsg.FetchResponse).Topics[0].Partitions[i]; p.Partition == int32(a[0]) {
					part = p
				}
			}
			if part == nil || part.ErrorCode != 0 {
				t.Fatalf("partition %d: answer %+v", a[0], part)
			}
			fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: part.Partition, Offset: a[1]},
				part, kgo.DefaultDecompressor(), nil)
			if fp.Err != nil {
				t.Fatalf("partition %d: %v", a[0], fp.Err)
			}
			for i, r := range fp.Records {
				if want := a[1] + int64(i); r.Offset != want || string(r.Value) != value(part.Partition, want) {
					t.Fatalf("partition %d from %d: record %d is offset %d %q, want %d %q", a[0], a[1], i, r.Offset, r.Value, want, value(part.Partition, want))
				}
			}
			got[part.Partition] = len(fp.Records)
			next[part.Partition] = a[1] + int64(len(fp.Records))
		}
		return got
	}
	fetch := func(wait int32, at ...[2]int64) map[int32]int {
		t.Helper()
		resp, err := w.roundTrip(request(wait, at...))
		return check(resp, err, at...)
	}
	used := func() float64 { return testutil.ToFloat64(s.m.readAhead.WithLabelValues("used")) }
	discarded := func() float64 { return testutil.ToFloat64(s.m.readAhead.WithLabelValues("discarded")) }

	if got := fetch(100, [2]int64{0, 0}, [2]int64{1, 0}); got[0]+got[1] == 0 || got[0] >= n || got[1] >= n {
		t.Fatalf("first answer %v: want some records, not all of a partition", got)
	}
	fetch(100, [2]int64{1, next[1]}, [2]int64{0, next[0]}) // where the last ended, order rotated
	if used() != 1 || discarded() != 0 {
		t.Fatalf("read-ahead used %v, discarded %v; want 1, 0", used(), discarded())
	}
	fetch(100, [2]int64{0, 5}, [2]int64{1, next[1]}) // partition 0 seeks back
	fetch(100, [2]int64{0, 250}, [2]int64{1, next[1]})
	if used() != 1 || discarded() != 2 {
		t.Fatalf("read-ahead used %v, discarded %v; want 1, 2", used(), discarded())
	}
	for next[0] < n || next[1] < n {
		fetch(100, [2]int64{0, next[0]}, [2]int64{1, next[1]})
	}
	if next[0] != n || next[1] != n || used() < 2 {
		t.Fatalf("read to %v with the read-ahead used %v times; want %d each, used at least twice", next, used(), n)
	}
	// Caught up: the read-ahead finds nothing, and the next fetch still
	// waits for records and gets those produced while it waits.
	end := [][2]int64{{0, n}, {1, n}}
	type answer struct {
		resp kmsg.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := w.roundTrip(request(10_000, end...))
		answered <- answer{resp, err}
	}()
	waitFor(t, 10*time.Second, "the fetch to wait for records", func() bool { return testutil.ToFloat64(s.m.longPolls) == 1 })
	start := time.Now()
	produce(1, n, n+3)
	a := <-answered
	if got := check(a.resp, a.err, end...); got[0] != 0 || got[1] != 3 {
		t.Fatalf("long poll after the end: %v, want partition 1's 3 new records", got)
	}
	if d := time.Since(start); d > 9*time.Second {
		t.Fatalf("long poll answered %v after the records came: want when they came", d)
	}
}
