// Package logtest is the acceptance suite of Braid's partitioned log. Run it
// against every NATS deployment the log supports: the embedded server and an
// external cluster.
package logtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
)

// Harness tells the suite how to reach a log.
type Harness struct {
	// Open returns a log; the suite closes it. Every call may return a new
	// handle on the same server.
	Open func(t *testing.T) *log.Log
	// Restart, when set, stops the server (closing every log opened so far)
	// and starts it again on the same data, returning a fresh log. External
	// clusters leave it nil and the restart case is not run.
	Restart func(t *testing.T) *log.Log
	// ServerInProcess says the NATS server shares the test's heap, which
	// loosens the memory checks by the server's own caches.
	ServerInProcess bool
	// Connect, when set, returns a log on a new connection to the same
	// server (the suite closes it): producers that are separate clients.
	Connect func(t *testing.T) *log.Log
}

// Run runs the whole suite. Each case uses its own topics and deletes them.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"TopicAdmin", testTopicAdmin},
		{"OrderWithinPartition", testOrder},
		{"MurmurAssignments", testMurmur},
		{"MidBatchStart", testMidBatch},
		{"CommitAndResume", testCommitResume},
		{"Dedup", testDedup},
		{"RetentionAge", testRetentionAge},
		{"RetentionBytes", testRetentionBytes},
		{"TopicFullRejects", testTopicFull},
		{"UnbatchedInterop", testUnbatched},
		{"LaggingReaderBounded", testBoundedMemory},
		{"KV", testKV},
		{"ReadYourWrites", testReadYourWrites},
		{"SeekLatestOffsetForTime", testSeek},
		{"ConcurrentProducers", testConcurrentProducers},
		{"FencedWriter", testWriter},
		{"DenseOffsets", testDenseOffsets},
		{"SeekInsideBatch", testSeekInsideBatch},
		{"LagExactAtOneMillion", testLagExact},
		{"ScanMeta", testScanMeta},
		{"OffsetOutOfRange", testOutOfRange},
		{"EndSurvivesRetention", testEndSurvivesRetention},
		{"Closed", testClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, h) })
	}
	if h.Restart != nil {
		t.Run("SurvivesRestart", func(t *testing.T) { testRestart(t, h) })
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// uniqueName returns a topic name no other run uses.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// newTopic creates a topic and deletes it when the test ends.
func newTopic(t *testing.T, l *log.Log, cfg log.TopicConfig) string {
	t.Helper()
	name := uniqueName("lt")
	if err := l.CreateTopic(ctxFor(t), name, cfg); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.DeleteTopic(ctx, name); err != nil && !errors.Is(err, log.ErrTopicNotFound) && !errors.Is(err, log.ErrClosed) {
			t.Logf("delete topic %s: %v", name, err)
		}
	})
	return name
}

func open(t *testing.T, h Harness) *log.Log {
	l := h.Open(t)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// publish stores recs in one batch and waits for the acknowledgement.
func publish(t *testing.T, p *log.Producer, b log.Batch) []log.Record {
	t.Helper()
	ctx := ctxFor(t)
	pend, err := p.Publish(ctx, b)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	recs, err := pend.Wait(ctx)
	if err != nil {
		t.Fatalf("publish ack: %v", err)
	}
	return recs
}

func seqRecords(n int, key func(i int) []byte) []log.Record {
	recs := make([]log.Record, n)
	for i := range recs {
		recs[i] = log.Record{Partition: -1, Value: fmt.Appendf(nil, "%d", i)}
		if key != nil {
			recs[i].Key = key(i)
		}
	}
	return recs
}

// readAll reads a partition from offset until want records arrived.
func readAll(t *testing.T, l *log.Log, topic string, p int32, from int64, want int) []log.Record {
	t.Helper()
	ctx := ctxFor(t)
	r, err := l.NewReader(ctx, topic, p, from)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	defer r.Close()
	var out []log.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < want {
		if time.Now().After(deadline) {
			t.Fatalf("partition %d: read %d of %d records before the deadline", p, len(out), want)
		}
		recs, err := r.Fetch(ctx, 500, 1<<20, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("fetch partition %d: %v", p, err)
		}
		out = append(out, recs...)
	}
	if len(out) > want {
		t.Fatalf("partition %d: %d records more than the %d expected", p, len(out)-want, want)
	}
	// Nothing more than expected.
	extra, err := r.Fetch(ctx, 10, 1<<20, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("fetch partition %d: %v", p, err)
	}
	if len(extra) > 0 {
		t.Fatalf("partition %d: %d records more than the %d expected", p, len(extra), want)
	}
	return out
}

func testTopicAdmin(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 2, Retention: time.Hour})
	if err := l.CreateTopic(ctx, name, log.TopicConfig{Partitions: 2}); !errors.Is(err, log.ErrTopicExists) {
		t.Fatalf("second create: %v, want ErrTopicExists", err)
	}
	// The same config again: JetStream would accept it as a no-op.
	if err := l.CreateTopic(ctx, name, log.TopicConfig{Partitions: 2, Retention: time.Hour}); !errors.Is(err, log.ErrTopicExists) {
		t.Fatalf("second create with the same config: %v, want ErrTopicExists", err)
	}
	if err := l.CreateTopic(ctx, "a.b", log.TopicConfig{Partitions: 1}); !errors.Is(err, log.ErrInvalidTopicName) {
		t.Fatalf("dotted name: %v, want ErrInvalidTopicName", err)
	}
	if err := l.CreateTopic(ctx, uniqueName("x"), log.TopicConfig{}); !errors.Is(err, log.ErrInvalidConfig) {
		t.Fatalf("0 partitions: %v, want ErrInvalidConfig", err)
	}
	if err := l.EnsureTopic(ctx, name, log.TopicConfig{Partitions: 4, Retention: 2 * time.Hour}); err != nil {
		t.Fatalf("ensure grows partitions: %v", err)
	}
	if err := l.EnsureTopic(ctx, name, log.TopicConfig{Partitions: 3}); !errors.Is(err, log.ErrInvalidConfig) {
		t.Fatalf("ensure shrinking partitions: %v, want ErrInvalidConfig", err)
	}
	if err := l.UpdateTopic(ctx, name, log.TopicConfig{Retention: 3 * time.Hour, MaxBytes: 1 << 30, Discard: log.DiscardOld}); err != nil {
		t.Fatalf("update: %v", err)
	}
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	publish(t, p, log.Batch{Topic: name, Records: seqRecords(10, nil)})
	ti, err := l.Topic(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	c := ti.Config
	if c.Partitions != 4 || c.Retention != 3*time.Hour || c.MaxBytes != 1<<30 || c.Discard != log.DiscardOld || len(ti.Partitions) != 4 {
		t.Fatalf("described config %+v with %d partitions", c, len(ti.Partitions))
	}
	var records int64
	for _, pi := range ti.Partitions {
		if pi.Messages == 0 || pi.FirstOffset < 0 || pi.LastOffset < pi.FirstOffset {
			t.Fatalf("partition info %+v", pi)
		}
		records += pi.Messages
	}
	if ti.Bytes == 0 || ti.Messages == 0 {
		t.Fatalf("topic info %+v", ti)
	}
	list, err := l.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ti := range list {
		found = found || ti.Name == name
	}
	if !found {
		t.Fatalf("Topics does not list %s", name)
	}
	if err := l.DeleteTopic(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Topic(ctx, name); !errors.Is(err, log.ErrTopicNotFound) {
		t.Fatalf("describe deleted topic: %v, want ErrTopicNotFound", err)
	}
}

func testOrder(t *testing.T, h Harness) {
	l := open(t, h)
	const parts, n = 3, 6000
	name := newTopic(t, l, log.TopicConfig{Partitions: parts})
	p := l.Producer(log.ProducerOptions{MaxInFlight: 4})
	defer p.Close(ctxFor(t))
	ctx := ctxFor(t)
	var pends []*log.Pending
	for b := 0; b < 6; b++ { // several batches in flight at once
		recs := make([]log.Record, n/6)
		for i := range recs {
			seq := b*n/6 + i
			recs[i] = log.Record{Partition: -1, Key: fmt.Appendf(nil, "k%d", seq%17), Value: fmt.Appendf(nil, "%d", seq)}
		}
		pend, err := p.Publish(ctx, log.Batch{Topic: name, Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		pends = append(pends, pend)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	counts := map[int32]int{}
	for _, pend := range pends {
		recs, err := pend.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			counts[r.Partition]++
		}
	}
	total := 0
	for part := int32(0); part < parts; part++ {
		got := readAll(t, l, name, part, log.Earliest, counts[part])
		last := map[string]int{}
		prevOff := int64(-1)
		for _, r := range got {
			var v int
			fmt.Sscan(string(r.Value), &v)
			if prev, ok := last[string(r.Key)]; ok && v <= prev {
				t.Fatalf("partition %d key %s: %d after %d", part, r.Key, v, prev)
			}
			last[string(r.Key)] = v
			if r.Offset <= prevOff {
				t.Fatalf("partition %d: offset %d after %d", part, r.Offset, prevOff)
			}
			prevOff = r.Offset
		}
		total += len(got)
	}
	if total != n {
		t.Fatalf("read %d records, published %d", total, n)
	}
}

func testMurmur(t *testing.T, h Harness) {
	l := open(t, h)
	name := newTopic(t, l, log.TopicConfig{Partitions: 50})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctxFor(t))
	keys := []string{"foobar", "21", "abc", "a-little-bit-long-string"}
	// toPositive(murmur2(key)) % 50, from Kafka's murmur2 test vectors.
	want := map[string]int32{"foobar": 16, "21": 40, "abc": 7, "a-little-bit-long-string": 12}
	recs := make([]log.Record, len(keys))
	for i, k := range keys {
		recs[i] = log.Record{Partition: -1, Key: []byte(k), Value: []byte(k)}
	}
	for _, r := range publish(t, p, log.Batch{Topic: name, Records: recs}) {
		if r.Partition != want[string(r.Key)] {
			t.Errorf("key %q in partition %d, Kafka puts it in %d", r.Key, r.Partition, want[string(r.Key)])
		}
	}
	got := readAll(t, l, name, 16, log.Earliest, 1)
	if string(got[0].Key) != "foobar" {
		t.Fatalf("partition 16 holds %q", got[0].Key)
	}
}

func testMidBatch(t *testing.T, h Harness) {
	l := open(t, h)
	name := newTopic(t, l, log.TopicConfig{Partitions: 1})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctxFor(t))
	stored := publish(t, p, log.Batch{Topic: name, Records: seqRecords(100, nil)})
	for i, r := range stored {
		if r.Offset != int64(i) {
			t.Fatalf("record %d of a new partition got offset %d", i, r.Offset)
		}
	}
	if ti, err := l.Topic(ctxFor(t), name); err != nil || ti.Partitions[0].Messages != 1 {
		t.Fatalf("100 small records were not stored as one batch: %+v, %v", ti.Partitions, err)
	}
	got := readAll(t, l, name, 0, stored[37].Offset, 63)
	if string(got[0].Value) != "37" || got[0].Offset != stored[37].Offset {
		t.Fatalf("reading from offset %d started at %q (offset %d)", stored[37].Offset, got[0].Value, got[0].Offset)
	}
	// committed + 1 of the last record in a batch is the next batch.
	more := publish(t, p, log.Batch{Topic: name, Records: seqRecords(3, nil)})
	got = readAll(t, l, name, 0, stored[99].Offset+1, 3)
	if got[0].Offset != more[0].Offset {
		t.Fatalf("offset after a batch's last record: got %d want %d", got[0].Offset, more[0].Offset)
	}
}

func testCommitResume(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 2})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	for range 4 {
		recs := seqRecords(25, nil)
		for i := range recs {
			recs[i].Partition = 0
		}
		publish(t, p, log.Batch{Topic: name, Records: recs})
	}
	group := uniqueName("group with spaces.and.dots")
	lag, err := l.Lag(ctx, group, name)
	if err != nil || lag[0] != 100 || lag[1] != 0 {
		t.Fatalf("lag before commit: %v, %v; want 100 and 0", lag, err)
	}
	first := readAll(t, l, name, 0, log.Earliest, 100)
	if err := l.CommitOffset(ctx, group, name, 0, first[39].Offset); err != nil {
		t.Fatal(err)
	}
	offs, err := l.CommittedOffsets(ctx, group, name)
	if err != nil || len(offs) != 1 || offs[0] != first[39].Offset {
		t.Fatalf("committed: %v, %v", offs, err)
	}
	lag, err = l.Lag(ctx, group, name)
	if err != nil || lag[0] != 60 {
		t.Fatalf("lag after committing 40 of 100: %v, %v", lag, err)
	}
	// A new log handle (a restarted worker) resumes at committed + 1.
	l2 := open(t, h)
	offs, err = l2.CommittedOffsets(ctx, group, name)
	if err != nil {
		t.Fatal(err)
	}
	rest := readAll(t, l2, name, 0, offs[0]+1, 60)
	if string(rest[0].Value) != "15" { // record 40 is the 16th of the second batch
		t.Fatalf("resumed at %q", rest[0].Value)
	}
	groups, err := l2.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(groups, group) {
		t.Fatalf("Groups() = %v lacks %q", groups, group)
	}
	if err := l2.DeleteOffsets(ctx, group, name); err != nil {
		t.Fatal(err)
	}
	if offs, err := l2.CommittedOffsets(ctx, group, name); err != nil || len(offs) != 0 {
		t.Fatalf("after delete: %v, %v", offs, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func testDedup(t *testing.T, h Harness) {
	l := open(t, h)
	name := newTopic(t, l, log.TopicConfig{Partitions: 3})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctxFor(t))
	mk := func() log.Batch {
		return log.Batch{Topic: name, MsgID: "src-1:pos-42", Records: seqRecords(30, func(i int) []byte { return fmt.Appendf(nil, "k%d", i) })}
	}
	first := publish(t, p, mk())
	// A crashed source replays the same batch with the same id.
	p2 := l.Producer(log.ProducerOptions{})
	defer p2.Close(ctxFor(t))
	second := publish(t, p2, mk())
	for i := range first {
		if first[i].Offset != second[i].Offset || first[i].Partition != second[i].Partition {
			t.Fatalf("record %d: replay stored at %d/%d, first at %d/%d", i,
				second[i].Partition, second[i].Offset, first[i].Partition, first[i].Offset)
		}
	}
	ti, err := l.Topic(ctxFor(t), name)
	if err != nil {
		t.Fatal(err)
	}
	var msgs int64
	for _, pi := range ti.Partitions {
		msgs += pi.Messages
	}
	if msgs != 3 {
		t.Fatalf("%d messages stored after a replay, want 3 (one batch per partition)", msgs)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testRetentionAge(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 1, Retention: time.Second})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	publish(t, p, log.Batch{Topic: name, Records: seqRecords(10, nil)})
	waitFor(t, 15*time.Second, "records older than the retention to expire", func() (bool, error) {
		ti, err := l.Topic(ctx, name)
		return err == nil && ti.Messages == 0, err
	})
}

func testRetentionBytes(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	const limit = 64 << 10
	name := newTopic(t, l, log.TopicConfig{Partitions: 1, MaxBytes: limit, Discard: log.DiscardOld, Compression: "none"})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	var last []log.Record
	for range 40 {
		recs := seqRecords(10, nil)
		for i := range recs {
			recs[i].Value = make([]byte, 1000)
		}
		last = publish(t, p, log.Batch{Topic: name, Records: recs})
	}
	ti, err := l.Topic(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Bytes > limit {
		t.Fatalf("topic holds %d bytes, limit %d", ti.Bytes, limit)
	}
	pi := ti.Partitions[0]
	if pi.FirstOffset <= 0 || pi.LastOffset != last[len(last)-1].Offset || pi.EndOffset != 400 {
		t.Fatalf("partition after byte retention: %+v (last published %d)", pi, last[len(last)-1].Offset)
	}
}

func testTopicFull(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 1, MaxBytes: 32 << 10, Compression: "none"})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	for i := range 100 {
		recs := []log.Record{{Partition: -1, Value: make([]byte, 1000)}}
		pend, err := p.Publish(ctx, log.Batch{Topic: name, Records: recs})
		if err == nil {
			_, err = pend.Wait(ctx)
		}
		if errors.Is(err, log.ErrTopicFull) {
			if i < 20 {
				t.Fatalf("full after %d KB of a 32 KiB topic", i)
			}
			return
		}
		if err != nil {
			t.Fatalf("publish %d: %v, want nil or ErrTopicFull", i, err)
		}
	}
	t.Fatal("100 KB stored in a 32 KiB topic without ErrTopicFull")
}

func testUnbatched(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	off := false
	name := newTopic(t, l, log.TopicConfig{Partitions: 2, Batching: &off})
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	recs := []log.Record{
		{Partition: 1, Key: []byte("user-1"), Value: []byte(`{"a":1}`), Headers: []log.Header{{Key: "trace", Value: "t1"}}},
		{Partition: 1, Key: []byte{0, 1, 2}, Value: []byte(`{"a":2}`)},
	}
	stored := publish(t, p, log.Batch{Topic: name, Records: recs, MsgID: "u1"})
	if stored[0].Offset != 0 || stored[1].Offset != 1 {
		t.Fatalf("unbatched records at offsets %d, %d; want 0, 1", stored[0].Offset, stored[1].Offset)
	}
	got := readAll(t, l, name, 1, log.Earliest, 2)
	for i := range got {
		if string(got[i].Key) != string(recs[i].Key) || string(got[i].Value) != string(recs[i].Value) {
			t.Fatalf("record %d: %q=%q", i, got[i].Key, got[i].Value)
		}
	}
	if len(got[0].Headers) != 1 || got[0].Headers[0] != recs[0].Headers[0] {
		t.Fatalf("headers %v", got[0].Headers)
	}
	ti, err := l.Topic(ctx, name)
	if err != nil || ti.Partitions[1].Messages != 2 {
		t.Fatalf("unbatched topic: %+v, %v", ti, err)
	}
}

func testKV(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	kv, err := l.KV(ctx, "braid_logtest")
	if err != nil {
		t.Fatal(err)
	}
	pfx := uniqueName("connector") + ".my source/α "
	key := pfx + "config"
	watch, err := kv.Watch(ctx, pfx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, key); !errors.Is(err, log.ErrKeyNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	rev, err := kv.Create(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, key, []byte("v1")); !errors.Is(err, log.ErrKeyExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := kv.Update(ctx, key, []byte("v2"), rev+100); !errors.Is(err, log.ErrWrongRevision) {
		t.Fatalf("update at a wrong revision: %v", err)
	}
	if _, err := kv.Update(ctx, key, []byte("v2"), rev); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, pfx+"status", []byte("running")); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, key)
	if err != nil || string(e.Value) != "v2" || e.Key != key {
		t.Fatalf("get: %+v, %v", e, err)
	}
	keys, err := kv.Keys(ctx, pfx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %v, %v", keys, err)
	}
	if err := kv.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, key); !errors.Is(err, log.ErrKeyNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	// Buckets keep one revision per key, so a watcher that falls behind
	// (a loaded machine) sees each key's latest state and may miss earlier
	// revisions; what it sees of a key comes in order and ends in its latest.
	byKey := map[string][]string{}
	waitFor(t, 10*time.Second, "watch events", func() (bool, error) {
		for {
			select {
			case e := <-watch:
				k := e.Key[len(pfx):]
				byKey[k] = append(byKey[k], fmt.Sprintf("%s/%v", e.Value, e.Deleted))
			default:
				c := byKey["config"]
				return len(c) > 0 && c[len(c)-1] == "/true" && len(byKey["status"]) > 0, nil
			}
		}
	})
	config, full := fmt.Sprint(byKey["config"]), []string{"v1/false", "v2/false", "/true"}
	ok := false
	for i := range full {
		ok = ok || config == fmt.Sprint(full[i:])
	}
	if !ok || fmt.Sprint(byKey["status"]) != "[running/false]" {
		t.Fatalf("watch saw config %s and status %v; want a suffix of %v ending in the delete, and [running/false]",
			config, byKey["status"], full)
	}
	_ = kv.Delete(ctx, pfx+"status")
}

func testRestart(t *testing.T, h Harness) {
	l := h.Open(t)
	ctx := ctxFor(t)
	name := uniqueName("lt")
	if err := l.CreateTopic(ctx, name, log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p := l.Producer(log.ProducerOptions{})
	var pends []*log.Pending
	for range 20 {
		pend, err := p.Publish(ctx, log.Batch{Topic: name, Records: seqRecords(500, nil)})
		if err != nil {
			t.Fatal(err)
		}
		pends = append(pends, pend)
	}
	counts := map[int32]int{}
	for _, pend := range pends {
		recs, err := pend.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			counts[r.Partition]++
		}
	}
	if err := l.CommitOffset(ctx, "g", name, 0, 42); err != nil {
		t.Fatal(err)
	}
	l2 := h.Restart(t)
	t.Cleanup(func() { _ = l2.Close() })
	for part, n := range counts {
		readAll(t, l2, name, part, log.Earliest, n)
	}
	offs, err := l2.CommittedOffsets(ctx, "g", name)
	if err != nil || offs[0] != 42 {
		t.Fatalf("committed offset after restart: %v, %v", offs, err)
	}
	if err := l2.DeleteTopic(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// testReadYourWrites checks a value read right after it was written is that
// value, on a cluster too: a committed offset, a KV put and a KV delete. A
// read answered by a replica that has not applied the write would hand a
// resuming task an older offset or position.
func testReadYourWrites(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 2})
	group := uniqueName("ryw")
	t.Cleanup(func() { _ = l.DeleteOffsets(context.Background(), group, name) })
	kv, err := l.KV(ctx, "braid_logtest")
	if err != nil {
		t.Fatal(err)
	}
	key := uniqueName("ryw")
	for i := range 300 {
		p := int32(i % 2)
		if err := l.CommitOffset(ctx, group, name, p, int64(i)); err != nil {
			t.Fatal(err)
		}
		got, err := l.CommittedOffsets(ctx, group, name)
		if err != nil || got[p] != int64(i) {
			t.Fatalf("write %d: committed offsets %v, %v; want partition %d at %d", i, got, err, p, i)
		}
		v := strconv.Itoa(i)
		if _, err := kv.Put(ctx, key, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if e, err := kv.Get(ctx, key); err != nil || string(e.Value) != v {
			t.Fatalf("write %d: kv get %q, %v; want %q", i, e.Value, err, v)
		}
		if i%10 == 9 {
			if err := kv.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Get(ctx, key); !errors.Is(err, log.ErrKeyNotFound) {
				t.Fatalf("write %d: get after delete: %v", i, err)
			}
		}
	}
	_ = kv.Delete(ctx, key)
}

// testScanMeta: ScanMeta reads one partition's messages since a time, oldest
// first, with their offsets and Meta, and says when it stopped at its limit.
func testScanMeta(t *testing.T, h Harness) {
	l := open(t, h)
	ctx := ctxFor(t)
	name := newTopic(t, l, log.TopicConfig{Partitions: 2})
	p := l.Producer(log.ProducerOptions{ID: "scan"})
	defer p.Close(ctx)
	since := time.Now().Add(-time.Minute)
	for i := range 4 {
		recs := seqRecords(3, nil)
		for j := range recs {
			recs[j].Partition = int32(i % 2)
		}
		publish(t, p, log.Batch{Topic: name, Records: recs, Meta: []log.Header{{Key: "b", Value: fmt.Sprint(i)}}})
	}
	var got []string
	complete, err := l.ScanMeta(ctx, name, 1, since, 10, func(m log.StoredMeta) {
		got = append(got, fmt.Sprintf("%s@%d+%d", m.Meta[0].Value, m.Offset, m.Count))
	})
	if err != nil || !complete || strings.Join(got, ",") != "1@0+3,3@3+3" {
		t.Fatalf("ScanMeta = %v, complete %v, %v; want 1@0+3,3@3+3", got, complete, err)
	}
	got = got[:0]
	if complete, err := l.ScanMeta(ctx, name, 0, since, 1, func(m log.StoredMeta) { got = append(got, m.Meta[0].Value) }); err != nil || complete || len(got) != 1 {
		t.Fatalf("ScanMeta with limit 1 = %v, complete %v, %v; want one message, not complete", got, complete, err)
	}
	if complete, err := l.ScanMeta(ctx, name, 0, time.Now().Add(time.Minute), 10, func(log.StoredMeta) { t.Fatal("a message stored before since") }); err != nil || !complete {
		t.Fatalf("ScanMeta since the future: complete %v, %v", complete, err)
	}
}
