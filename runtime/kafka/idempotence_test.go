package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// initProducer asks for a producer id (or, given one, a bumped epoch).
func initProducer(t *testing.T, w *wire, pid int64, epoch int16) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(3)
	req.ProducerID, req.ProducerEpoch = pid, epoch
	resp, err := w.roundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.InitProducerIDResponse)
	if r.ErrorCode != 0 {
		t.Fatalf("InitProducerID: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	return r.ProducerID, r.ProducerEpoch
}

// idempotentProduce is a Produce of one batch of n records from producer
// pid at epoch, sequence seq, to partition 0 of topic.
func idempotentProduce(t *testing.T, topic string, pid int64, epoch int16, seq int32, n int) *kmsg.ProduceRequest {
	t.Helper()
	return paddedProduce(t, topic, pid, epoch, seq, n, 0)
}

// paddedProduce is idempotentProduce with pad bytes after each value's name.
func paddedProduce(t *testing.T, topic string, pid int64, epoch int16, seq int32, n, pad int) *kmsg.ProduceRequest {
	t.Helper()
	var recs []kmsg.Record
	for i := range n {
		r := kmsg.NewRecord()
		r.Key, r.Value = []byte("k"), fmt.Appendf(nil, "p%d-e%d-s%d%s", pid, epoch, int(seq)+i, strings.Repeat(" ", pad))
		recs = append(recs, r)
	}
	batch := kmsgBatch(t, "none", time.Now().UnixMilli(), recs, func(rb *kmsg.RecordBatch) {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = pid, epoch, seq
	})
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 10_000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition, pp.Records = 0, batch
	pt.Partitions = []kmsg.ProduceRequestTopicPartition{pp}
	req.Topics = []kmsg.ProduceRequestTopic{pt}
	return req
}

// produced sends req and returns partition 0's error code and base offset.
func produced(t *testing.T, w *wire, req *kmsg.ProduceRequest) (int16, int64) {
	t.Helper()
	resp, err := w.roundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

// readAll reads every record of a partition up to its end offset.
func readAll(t *testing.T, ctx context.Context, l *log.Log, topic string, part int32) []log.Record {
	t.Helper()
	_, end, err := l.PartitionOffsets(ctx, topic, part)
	if err != nil {
		t.Fatal(err)
	}
	if end == 0 {
		return nil
	}
	r, err := l.NewReader(ctx, topic, part, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []log.Record
	for int64(len(out)) < end {
		recs, err := r.Fetch(ctx, 10_000, 64<<20, time.Second)
		if err != nil {
			t.Fatalf("read %s/%d at %d of %d: %v", topic, part, len(out), end, err)
		}
		out = append(out, recs...)
	}
	return out
}

func values(recs []log.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// TestIdempotentSequences drives KIP-98's rules with raw Produce requests: a
// resent batch is stored once and answered with its first base offset,
// pipelined or not; a gap, a replayed older sequence and an old epoch are
// refused with their error codes and store nothing.
func TestIdempotentSequences(t *testing.T) {
	t.Parallel()
	l := testLog(t)
	s := testServer(t, l)
	topic := newTopic(t, l, 1)
	ctx := ctxT(t, time.Minute)
	w := dialWire(t, s.Addr())
	pid, epoch := initProducer(t, w, -1, -1)

	first := idempotentProduce(t, topic, pid, epoch, 0, 3)
	code, base := produced(t, w, first)
	if code != 0 || base != 0 {
		t.Fatalf("first batch: %v at %d", kerr.ErrorForCode(code), base)
	}
	code, base = produced(t, w, first)
	if code != 0 || base != 0 {
		t.Fatalf("the same batch again: %v at %d, want success at 0", kerr.ErrorForCode(code), base)
	}

	// Pipelined: the retry arrives before the first copy is stored.
	second := idempotentProduce(t, topic, pid, epoch, 3, 2)
	frames := appendRequest(appendRequest(nil, 100, second), 101, second)
	if _, err := w.c.Write(frames); err != nil {
		t.Fatal(err)
	}
	for corr := int32(100); corr <= 101; corr++ {
		frame, err := readFrame(w.br)
		if err != nil {
			t.Fatal(err)
		}
		resp := second.ResponseKind().(*kmsg.ProduceResponse)
		resp.SetVersion(second.Version)
		if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
			t.Fatalf("correlation id %d, want %d", got, corr)
		}
		if err := resp.ReadFrom(frame[5:]); err != nil { // after the id and the header's tags
			t.Fatal(err)
		}
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 3 {
			t.Fatalf("pipelined copy %d: %v at %d, want success at 3", corr-99, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
		}
	}

	refused := []struct {
		name string
		req  *kmsg.ProduceRequest
		want *kerr.Error
	}{
		{"a sequence gap", idempotentProduce(t, topic, pid, epoch, 9, 1), kerr.OutOfOrderSequenceNumber},
		{"an older sequence", idempotentProduce(t, topic, pid, epoch, 1, 1), kerr.DuplicateSequenceNumber},
	}
	for _, r := range refused {
		if code, _ := produced(t, w, r.req); code != r.want.Code {
			t.Fatalf("%s: %v, want %v", r.name, kerr.ErrorForCode(code), r.want)
		}
	}

	// A bumped epoch starts its sequences again; the old epoch is fenced.
	pid2, epoch2 := initProducer(t, w, pid, epoch)
	if pid2 != pid || epoch2 != epoch+1 {
		t.Fatalf("bumped to %d/%d, want %d/%d", pid2, epoch2, pid, epoch+1)
	}
	if code, base := produced(t, w, idempotentProduce(t, topic, pid, epoch2, 0, 1)); code != 0 || base != 5 {
		t.Fatalf("new epoch: %v at %d, want success at 5", kerr.ErrorForCode(code), base)
	}
	if code, _ := produced(t, w, idempotentProduce(t, topic, pid, epoch, 5, 1)); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: %v, want %v", kerr.ErrorForCode(code), kerr.InvalidProducerEpoch)
	}

	want := []string{
		fmt.Sprintf("p%d-e%d-s0", pid, epoch), fmt.Sprintf("p%d-e%d-s1", pid, epoch), fmt.Sprintf("p%d-e%d-s2", pid, epoch),
		fmt.Sprintf("p%d-e%d-s3", pid, epoch), fmt.Sprintf("p%d-e%d-s4", pid, epoch),
		fmt.Sprintf("p%d-e%d-s0", pid, epoch2),
	}
	got := values(readAll(t, ctx, l, topic, 0))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v\nwant   %v", got, want)
	}
}

// TestIdempotentSequencesReadBack: a server that has not seen a producer
// reads its sequences back from the batches the server before stored in the
// partition, as a Kafka broker reads its producer state after a restart: a
// newer batch before the next one is OUT_OF_ORDER_SEQUENCE (the client
// resends in order), retries of the batches stored before are answered with
// their first offsets and stored nothing, and the partition ends up in
// produce order, each record once.
func TestIdempotentSequencesReadBack(t *testing.T) {
	t.Parallel()
	l := testLog(t)
	topic := newTopic(t, l, 1)
	ctx := ctxT(t, time.Minute)
	s1 := testServer(t, l)
	w1 := dialWire(t, s1.Addr())
	pid, epoch := initProducer(t, w1, -1, -1)
	// The last batch is stored in several messages (3 MB of records).
	const big = 3000
	for _, b := range []struct{ seq, n, pad int }{{0, 5, 0}, {5, 5, 0}, {10, big, 1000}} {
		if code, _ := produced(t, w1, paddedProduce(t, topic, pid, epoch, int32(b.seq), b.n, b.pad)); code != 0 {
			t.Fatalf("first server, batch %d: %v", b.seq, kerr.ErrorForCode(code))
		}
	}
	s2 := testServer(t, l)
	w2 := dialWire(t, s2.Addr())
	next := 10 + big
	if code, _ := produced(t, w2, idempotentProduce(t, topic, pid, epoch, int32(next+5), 2)); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("a newer batch before the next one: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code))
	}
	for _, b := range []struct {
		seq, n, pad int
		base        int64
	}{{10, big, 1000, 10}, {5, 5, 0, 5}, {0, 5, 0, 0}, {next, 5, 0, int64(next)}, {next + 5, 2, 0, int64(next + 5)}} {
		code, base := produced(t, w2, paddedProduce(t, topic, pid, epoch, int32(b.seq), b.n, b.pad))
		if code != 0 || base != b.base {
			t.Fatalf("batch %d: %v at base %d, want stored (or found) at %d", b.seq, kerr.ErrorForCode(code), base, b.base)
		}
	}
	got := values(readAll(t, ctx, l, topic, 0))
	if len(got) != next+7 {
		t.Fatalf("stored %d records, want %d (s0-s%d once each)", len(got), next+7, next+6)
	}
	for i, v := range got {
		if want := fmt.Sprintf("p%d-e%d-s%d", pid, epoch, i); strings.TrimRight(v, " ") != want {
			t.Fatalf("offset %d holds %.40s, want %s", i, v, want)
		}
	}
	// A producer the log holds nothing of (its batches were never stored)
	// sets its sequence with its first batch, as before.
	pid2, epoch2 := initProducer(t, w2, -1, -1)
	if code, _ := produced(t, w2, idempotentProduce(t, topic, pid2, epoch2, 10, 2)); code != 0 {
		t.Fatalf("an unknown producer's first batch: %v", kerr.ErrorForCode(code))
	}
}

// freeAddr returns a loopback address no one listens on, so a server can
// be started again on the same address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestIdempotentProducerAcrossRestart keeps one idempotent kgo producer
// (acks=all, its defaults) producing while the server is closed and a new
// one started on the same log and address: every record is stored exactly
// once and in produce order, though retries of batches the old server
// stored arrive at the new one and the client may send newer batches before
// its retries (which once made the new server answer DUPLICATE_SEQUENCE for
// a batch nobody stored: 50 records lost; and, until it read the producers'
// sequences back from the log, stored those retries after the newer ones).
func TestIdempotentProducerAcrossRestart(t *testing.T) {
	t.Parallel()
	l := testLog(t)
	topic := newTopic(t, l, 3)
	addr := freeAddr(t)
	start := func() *Server {
		s := New(l, Options{Addr: addr})
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := start()
	ctx := ctxT(t, 2*time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RetryTimeout(time.Minute),
		kgo.ProducerLinger(2*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	const n = 3000
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			r := &kgo.Record{Key: []byte("k" + strconv.Itoa(i%7)), Value: []byte(strconv.Itoa(i))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("record %s: %v", r.Value, err)
				}
				acked.Add(1)
			})
			if i%50 == 49 {
				time.Sleep(5 * time.Millisecond) // spread the records over the restart
			}
		}
	}()

	// Restart once a third is acknowledged, with the rest still coming.
	waitFor(t, 60*time.Second, "a third of the records acknowledged", func() bool { return acked.Load() >= n/3 })
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	atRestart := acked.Load()
	s2 := start()
	defer s2.Close()
	<-done
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if atRestart >= n {
		t.Fatalf("all %d records were acknowledged before the restart: it tested nothing", n)
	}
	t.Logf("restarted with %d of %d records acknowledged", atRestart, n)

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
	seen := make([]bool, n)
	for p := range int32(3) {
		last := -1
		for _, r := range readAll(t, ctx, l, topic, p) {
			i, err := strconv.Atoi(string(r.Value))
			if err != nil || i < 0 || i >= n {
				t.Fatalf("partition %d: record %q", p, r.Value)
			}
			if seen[i] {
				t.Fatalf("record %d stored twice", i)
			}
			seen[i] = true
			// Every record in produce order: the new server read the
			// producer's sequences back from the log, so a batch the client
			// sends before its retries of older ones is refused with
			// OUT_OF_ORDER_SEQUENCE and comes again after them.
			if i < last {
				t.Fatalf("partition %d: record %d after %d", p, i, last)
			}
			last = i
			if kp := log.KeyPartition(r.Key, 3); kp != p {
				t.Fatalf("record %d with key %q in partition %d, want %d", i, r.Key, p, kp)
			}
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("record %d is missing", i)
		}
	}
}

// TestParseMsgID: only the ids idempotent batches are stored under count,
// not another writer's that happens to start alike.
func TestParseMsgID(t *testing.T) {
	for _, c := range []struct {
		id  string
		ok  bool
		pid int64
		ep  int16
		seq int32
	}{
		{msgID(42, 3, 1000, "orders-eu") + "-2-0", true, 42, 3, 1000},
		{msgID(42, 3, 1000, "orders-eu") + "-2-11", true, 42, 3, 1000},
		{msgID(42, 3, 1000, "orders-eu") + "-1-0", false, 0, 0, 0}, // another partition
		{msgID(42, 3, 1000, "orders") + "-2-0", false, 0, 0, 0},    // another topic
		{"k1-2-3-orders-eu/0.a1b2c3-2-0", false, 0, 0, 0},          // a source task named k1-2-3-orders-eu
		{"k1-2-x-orders-eu-2-0", false, 0, 0, 0},
		{"k1-99999-3-orders-eu-2-0", false, 0, 0, 0},
		{"src/0.a1b2-2-0", false, 0, 0, 0},
	} {
		pid, ep, seq, ok := parseMsgID(c.id, "orders-eu", 2)
		if ok != c.ok || pid != c.pid || ep != c.ep || seq != c.seq {
			t.Errorf("parseMsgID(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", c.id, pid, ep, seq, ok, c.pid, c.ep, c.seq, c.ok)
		}
	}
}
