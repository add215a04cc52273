package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
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
	var recs []kmsg.Record
	for i := range n {
		r := kmsg.NewRecord()
		r.Key, r.Value = []byte("k"), []byte(fmt.Sprintf("p%d-e%d-s%d", pid, epoch, int(seq)+i))
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

// TestIdempotentBatchBeforeFloor: a server that first sees a producer at
// sequence 10 (a restart: the batches before were another server's) stores
// a batch below that when it comes later, instead of answering
// DUPLICATE_SEQUENCE for something it cannot know was stored; a batch the
// server before did store is dropped by the log's duplicate window.
func TestIdempotentBatchBeforeFloor(t *testing.T) {
	t.Parallel()
	l := testLog(t)
	topic := newTopic(t, l, 1)
	ctx := ctxT(t, time.Minute)
	s1 := testServer(t, l)
	w1 := dialWire(t, s1.Addr())
	pid, epoch := initProducer(t, w1, -1, -1)
	if code, _ := produced(t, w1, idempotentProduce(t, topic, pid, epoch, 0, 5)); code != 0 {
		t.Fatalf("first server: %v", kerr.ErrorForCode(code))
	}
	s2 := testServer(t, l) // knows nothing of pid
	w2 := dialWire(t, s2.Addr())
	if code, _ := produced(t, w2, idempotentProduce(t, topic, pid, epoch, 10, 2)); code != 0 {
		t.Fatalf("newer batch first: %v", kerr.ErrorForCode(code))
	}
	for _, b := range []struct{ seq, n int }{{5, 5}, {0, 5}} { // never stored; stored by s1
		if code, _ := produced(t, w2, idempotentProduce(t, topic, pid, epoch, int32(b.seq), b.n)); code != 0 {
			t.Fatalf("batch at %d after the newer one: %v", b.seq, kerr.ErrorForCode(code))
		}
	}
	if code, _ := produced(t, w2, idempotentProduce(t, topic, pid, epoch, 12, 1)); code != 0 {
		t.Fatalf("the next batch: %v", kerr.ErrorForCode(code))
	}
	got := values(readAll(t, ctx, l, topic, 0))
	if len(got) != 13 {
		t.Fatalf("stored %d records %v, want 13 (s0-s12 once each)", len(got), got)
	}
	seen := map[string]bool{}
	for _, v := range got {
		if seen[v] {
			t.Fatalf("%s stored twice: %v", v, got)
		}
		seen[v] = true
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
// once, though the new server knows none of the producer's sequences,
// retries of batches the old one stored arrive at it, and the client may
// send newer batches before its retries (which once made the new server
// answer DUPLICATE_SEQUENCE for a batch nobody stored: 50 records lost).
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
			// Records acknowledged before the restart are in produce order.
			// A batch the client retries after newer ones (the restart cut
			// both off) is stored after them: the new server cannot know
			// whether the old one stored it (docs/kafka.md).
			if i < int(atRestart) {
				if i < last {
					t.Fatalf("partition %d: record %d after %d", p, i, last)
				}
				last = i
			}
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
