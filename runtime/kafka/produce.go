package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxDecompressed bounds one partition's records in a Produce request
// after decompression.
const maxDecompressed = 64 << 20

// recentBatches is how many batches per producer and partition are kept
// for duplicate detection (Kafka keeps 5: max.in.flight.requests ≤ 5).
const recentBatches = 5

// producers tracks idempotent producers' sequences (KIP-98), per producer
// id and partition, in memory. Each stored batch's message id names its
// producer, epoch and first sequence (msgID), so a server that has not seen
// a partition yet reads them back from the partition's messages of the
// last duplicate window before it takes the partition's first idempotent
// batch (recover): a producer that wrote there recently goes on with the
// sequences the log holds, as after a Kafka broker restart. Retries of
// batches stored before are also dropped by JetStream's duplicate window on
// the message id each batch is stored under.
type producers struct {
	l  *log.Log
	mu sync.Mutex
	m  map[prodKey]*prodState
	// recovered holds, per partition, what its scan found (see recover).
	recovered map[partKey]*partRecovery
	logger    *slog.Logger

	idMu sync.Mutex
	kv   *log.KV
}

type prodKey struct {
	pid   int64
	topic string
	part  int32
}

type partKey struct {
	topic string
	part  int32
}

// partRecovery is one scan of a partition's recent messages: the state of
// each idempotent producer found there, taken over by check.
type partRecovery struct {
	done  chan struct{}
	found map[int64]*prodState
}

// msgID is the message id an idempotent batch is stored under (the log
// adds "-partition-chunk").
func msgID(pid int64, epoch int16, seq int32, topic string) string {
	return "k" + strconv.FormatInt(pid, 10) + "-" + strconv.Itoa(int(epoch)) + "-" + strconv.Itoa(int(seq)) + "-" + topic
}

// parseMsgID reads producer, epoch and first sequence back from the id of
// a message stored in topic's partition part; ok is false for messages of
// other writers (whose ids end otherwise: a source task's is its producer
// id, a dot and a hash).
func parseMsgID(id, topic string, part int32) (pid int64, epoch int16, seq int32, ok bool) {
	rest, found := strings.CutPrefix(id, "k")
	if !found {
		return 0, 0, 0, false
	}
	var f [3]int64
	for i := range f {
		v, after, cut := strings.Cut(rest, "-")
		n, err := strconv.ParseInt(v, 10, 64)
		if !cut || err != nil || n < 0 {
			return 0, 0, 0, false
		}
		f[i], rest = n, after
	}
	if f[1] > 32767 || f[2] > 1<<31-1 {
		return 0, 0, 0, false
	}
	chunk, found := strings.CutPrefix(rest, topic+"-"+strconv.Itoa(int(part))+"-")
	if !found {
		return 0, 0, 0, false
	}
	if _, err := strconv.ParseUint(chunk, 10, 32); err != nil {
		return 0, 0, 0, false
	}
	return f[0], int16(f[1]), int32(f[2]), true
}

// recoverScanLimit bounds one partition's scan, in messages (one leader
// request each).
const recoverScanLimit = 20_000

type prodState struct {
	epoch int16
	next  int32
	// floor is the first sequence this server saw from the producer; what
	// came before is history it does not know (another server's, before a
	// restart): stored, or never stored.
	floor  int32
	recent []*sent // the last accepted batches, oldest first
}

// sent is one batch handed to the log; done closes when it is stored or failed.
type sent struct {
	first, last int32
	done        chan struct{}
	base        int64
	err         error
}

func newProducers(l *log.Log, logger *slog.Logger) *producers {
	return &producers{l: l, m: map[prodKey]*prodState{}, recovered: map[partKey]*partRecovery{}, logger: logger}
}

// recover makes sure the partition's recent idempotent batches were read
// back once before its first idempotent batch here is checked; callers for
// the same partition wait for the one scan.
func (ps *producers) recover(ctx context.Context, topic string, part int32) {
	k := partKey{topic, part}
	ps.mu.Lock()
	r := ps.recovered[k]
	if r != nil {
		ps.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
		}
		return
	}
	r = &partRecovery{done: make(chan struct{})}
	ps.recovered[k] = r
	ps.mu.Unlock()
	defer close(r.done)
	found, err := ps.scan(ctx, topic, part)
	if err != nil {
		// Without them the producers' next batches set their sequences
		// again (docs/kafka.md): logged, as it can reorder retried batches.
		ps.logger.Warn("idempotent producers' sequences not read back; their first batches set them again",
			"topic", topic, "partition", part, "err", err)
		return
	}
	ps.mu.Lock()
	r.found = found
	ps.mu.Unlock()
}

// scan reads the producers' batches stored in the partition within the
// duplicate window.
func (ps *producers) scan(ctx context.Context, topic string, part int32) (map[int64]*prodState, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	found := map[int64]*prodState{}
	since := time.Now().Add(-ps.l.DuplicateWindow())
	complete, err := ps.l.ScanMeta(ctx, topic, part, since, recoverScanLimit, func(m log.StoredMeta) {
		pid, epoch, first, ok := parseMsgID(m.MsgID, topic, part)
		if !ok {
			return // not an idempotent Kafka batch
		}
		st := found[pid]
		if st == nil || epoch > st.epoch {
			st = &prodState{epoch: epoch, floor: first}
			found[pid] = st
		} else if epoch < st.epoch {
			return
		}
		if n := len(st.recent); n > 0 && st.recent[n-1].first == first {
			// The next message of a batch split in several: a producer's
			// batches of a partition are stored one after the other.
			st.recent[n-1].last += int32(m.Count)
			st.next = st.recent[n-1].last + 1
			return
		}
		done := make(chan struct{})
		close(done)
		st.recent = append(st.recent, &sent{first: first, last: first + int32(m.Count) - 1, done: done, base: m.Offset})
		if len(st.recent) > recentBatches {
			st.recent = st.recent[1:]
		}
		st.next = first + int32(m.Count)
	})
	if err == nil && !complete {
		err = fmt.Errorf("more than %d messages in the last %v", recoverScanLimit, ps.l.DuplicateWindow())
	}
	return found, err
}

func (ps *producers) close() {}

// check applies KIP-98's sequence rules to a batch: it returns the batch's
// entry to publish, or an earlier entry the batch duplicates (dup), or the
// error code that refuses it. prev is the partition's previous batch, which
// must be stored before this one.
func (ps *producers) check(topic string, part int32, b batch) (s *sent, prev *sent, dup bool, code int16) {
	n := int32(len(b.records))
	last := b.baseSequence + n - 1
	if b.baseSequence < 0 || n == 0 {
		return nil, nil, false, kerr.InvalidRecord.Code
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	k := prodKey{b.producerID, topic, part}
	st := ps.m[k]
	if st == nil {
		// Read back from the log (recover), if it wrote here recently.
		if r := ps.recovered[partKey{topic, part}]; r != nil && r.found[b.producerID] != nil {
			st = r.found[b.producerID]
			delete(r.found, b.producerID)
			ps.m[k] = st
		}
	}
	switch {
	case st == nil || b.producerEpoch > st.epoch:
		// A producer this server has not seen (or restarted with a new
		// epoch): its first batch sets the sequence.
		st = &prodState{epoch: b.producerEpoch, floor: b.baseSequence}
		ps.m[k] = st
	case b.producerEpoch < st.epoch:
		return nil, nil, false, kerr.InvalidProducerEpoch.Code
	default:
		for _, r := range st.recent {
			if r.first == b.baseSequence && r.last == last {
				return r, nil, true, 0
			}
		}
		if b.baseSequence < st.floor && last < st.floor {
			// A batch from before anything this server saw: the client
			// retries it after sending newer ones (a listener restart cut
			// both off). Answering DUPLICATE_SEQUENCE would tell it the
			// batch is stored, which nobody knows; it is stored under its
			// message id instead, which JetStream's duplicate window drops
			// if the server before stored it. Exactly once, but after the
			// newer batches (docs/kafka.md).
			s = &sent{first: b.baseSequence, last: last, done: make(chan struct{})}
			st.recent = append(st.recent, s)
			if len(st.recent) > recentBatches {
				st.recent = st.recent[1:]
			}
			return s, nil, false, 0
		}
		if b.baseSequence != st.next {
			if b.baseSequence < st.next {
				return nil, nil, false, kerr.DuplicateSequenceNumber.Code
			}
			return nil, nil, false, kerr.OutOfOrderSequenceNumber.Code
		}
	}
	s = &sent{first: b.baseSequence, last: last, done: make(chan struct{})}
	if len(st.recent) > 0 {
		prev = st.recent[len(st.recent)-1]
	}
	st.recent = append(st.recent, s)
	if len(st.recent) > recentBatches {
		st.recent = st.recent[1:]
	}
	st.next = last + 1
	return s, prev, false, 0
}

// failed rolls a producer's sequence back to a batch that was not stored,
// so the client's retry of it (and of the batches after it) is accepted.
func (ps *producers) failed(topic string, part int32, pid int64, s *sent) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	st := ps.m[prodKey{pid, topic, part}]
	if st == nil {
		return
	}
	if s.last < st.floor {
		// From before the floor (see check): its failure moves nothing.
		st.recent = slices.DeleteFunc(st.recent, func(r *sent) bool { return r == s })
		return
	}
	if st.next > s.first {
		st.next = s.first
	}
	kept := st.recent[:0]
	for _, r := range st.recent {
		if r != s && r.first < s.first {
			kept = append(kept, r)
		}
	}
	st.recent = kept
}

// producerIDsKey counts producer ids in the braid_kafka bucket: an id is the
// bucket revision of a write, unique across workers and restarts.
const (
	kafkaBucket    = "braid_kafka"
	producerIDsKey = "producer-ids"
)

func (s *Server) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	if req.TransactionalID != nil {
		// Transactions are not supported yet (docs/kafka.md).
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	if req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < 32767 {
		// KIP-360: a producer bumps its epoch after a fatal sequence error.
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := s.producers.newID(ctx)
	if err != nil {
		s.logger.Warn("InitProducerID", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

func (ps *producers) newID(ctx context.Context) (int64, error) {
	ps.idMu.Lock()
	defer ps.idMu.Unlock()
	if ps.kv == nil {
		kv, err := ps.l.KV(ctx, kafkaBucket)
		if err != nil {
			return 0, err
		}
		ps.kv = kv
	}
	rev, err := ps.kv.Put(ctx, producerIDsKey, []byte("id"))
	return int64(rev), err
}

// job is one partition's batch for the connection's publisher.
type job struct {
	topic string
	part  int32
	recs  []log.Record
	msgID string
	pid   int64
	s     *sent // the idempotence entry (always set: non-idempotent batches get one too)
	prev  *sent // an idempotent producer's previous batch in this partition
}

// publishLanes is how many goroutines of a connection store its batches:
// a partition always uses the same lane, so each partition's batches are
// stored in request order while partitions do not wait for each other.
const publishLanes = 8

// publisher stores a connection's batches, per partition in request order.
type publisher struct {
	s     *Server
	ctx   context.Context
	lanes [publishLanes]*lane
	wg    sync.WaitGroup
}

// lane is one goroutine with its own log producer (a producer waits for a
// partition's previous message, and would hold up the others).
type lane struct {
	jobs chan job
	prod *log.Producer
}

func (cn *conn) publisher() *publisher {
	if cn.pub == nil {
		cn.pub = &publisher{s: cn.s, ctx: cn.ctx}
	}
	return cn.pub
}

// queue hands a job to its partition's lane.
func (p *publisher) queue(ctx context.Context, j job) bool {
	h := uint32(j.part)
	for i := 0; i < len(j.topic); i++ {
		h = h*31 + uint32(j.topic[i])
	}
	ln := p.lanes[h%publishLanes]
	if ln == nil {
		ln = &lane{jobs: make(chan job, 64), prod: p.s.log.Producer(log.ProducerOptions{ID: "kafka", MaxInFlight: 256})}
		p.lanes[h%publishLanes] = ln
		p.wg.Add(1)
		go p.run(ln)
	}
	select {
	case ln.jobs <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *publisher) close() {
	for _, ln := range p.lanes {
		if ln != nil {
			close(ln.jobs)
		}
	}
	p.wg.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, ln := range p.lanes {
		if ln != nil {
			_ = ln.prod.Close(cctx)
		}
	}
}

func (p *publisher) run(ln *lane) {
	defer p.wg.Done()
	for j := range ln.jobs {
		if j.prev != nil {
			// Idempotence keeps a producer's order: a batch is stored only
			// after the one before it, and fails when that one failed (the
			// client resends both, in order).
			<-j.prev.done
			if j.prev.err != nil {
				p.finish(j, fmt.Errorf("the previous batch failed: %w", j.prev.err))
				continue
			}
		}
		pend, err := ln.prod.Publish(p.ctx, log.Batch{Topic: j.topic, Records: j.recs, MsgID: j.msgID, Handoff: true})
		if err != nil {
			p.finish(j, err)
			continue
		}
		go func() {
			recs, err := pend.Wait(context.Background())
			if err == nil && len(recs) > 0 {
				j.s.base = recs[0].Offset
			}
			p.finish(j, err)
		}()
	}
}

func (p *publisher) finish(j job, err error) {
	if err != nil {
		j.s.err = err
		if j.pid >= 0 {
			p.s.producers.failed(j.topic, j.part, j.pid, j.s)
		}
		p.s.logger.Debug("produce failed", "topic", j.topic, "partition", j.part, "err", err)
	} else {
		p.s.m.records.WithLabelValues("produced").Add(float64(len(j.recs)))
	}
	close(j.s.done)
}

// produce decodes and checks a Produce request, hands its batches to the
// connection's publisher and returns the thunk that awaits them.
func (s *Server) produce(cn *conn, req *kmsg.ProduceRequest) func() kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	type wait struct {
		ti, pi int
		sent   []*sent
	}
	var waits []wait
	transactional := req.TransactionID != nil
	v := s.cl.current()
	for ti, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		n, terr := s.log.Partitions(cn.ctx, t.Topic)
		for pi, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			switch {
			case terr != nil:
				rp.ErrorCode = errCode(terr)
			case p.Partition < 0 || int(p.Partition) >= n:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !v.leads(t.Topic, p.Partition):
				// Any worker could store it (the log fences writers), but the
				// client's metadata is stale: it refreshes and moves.
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
			case transactional:
				rp.ErrorCode = kerr.InvalidRequest.Code
				rp.ErrorMessage = kmsg.StringPtr("transactions are not supported")
			default:
				var sn []*sent
				sn, rp.ErrorCode, rp.ErrorMessage = s.producePartition(cn, t.Topic, p.Partition, p.Records)
				if rp.ErrorCode == 0 && len(sn) > 0 {
					waits = append(waits, wait{ti, pi, sn})
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	timeout := time.Duration(max(req.TimeoutMillis, 1)) * time.Millisecond
	return func() kmsg.Response {
		ctx, cancel := context.WithTimeout(cn.ctx, timeout)
		defer cancel()
		for _, w := range waits {
			rp := &resp.Topics[w.ti].Partitions[w.pi]
			for _, sn := range w.sent {
				select {
				case <-sn.done:
				case <-ctx.Done():
					rp.ErrorCode = kerr.RequestTimedOut.Code
				}
				if rp.ErrorCode != 0 {
					break
				}
				if sn.err != nil {
					rp.ErrorCode = errCode(sn.err)
					rp.ErrorMessage = kmsg.StringPtr(sn.err.Error())
					break
				}
			}
			if rp.ErrorCode == 0 {
				rp.BaseOffset = w.sent[0].base
			}
		}
		if req.Acks == 0 {
			return nil
		}
		return resp
	}
}

// producePartition decodes one partition's batches and queues them.
func (s *Server) producePartition(cn *conn, topic string, part int32, raw []byte) ([]*sent, int16, *string) {
	batches, err := decodeBatches(raw, maxDecompressed)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, kerr.MessageTooLarge.Code, kmsg.StringPtr(err.Error())
	case errors.Is(err, errUnsupported):
		return nil, kerr.UnsupportedForMessageFormat.Code, kmsg.StringPtr(err.Error())
	case err != nil:
		return nil, kerr.CorruptMessage.Code, kmsg.StringPtr(err.Error())
	}
	var out []*sent
	for _, b := range batches {
		if b.transactional {
			return out, kerr.InvalidRequest.Code, kmsg.StringPtr("transactions are not supported")
		}
		if b.bytes > log.MaxRecordBytes {
			return out, kerr.MessageTooLarge.Code, kmsg.StringPtr(fmt.Sprintf("a record of %d bytes: the topic's max.message.bytes is %d", b.bytes, log.MaxRecordBytes))
		}
		for i := range b.records {
			b.records[i].Partition = part
		}
		j := job{topic: topic, part: part, recs: b.records, pid: -1}
		if b.producerID >= 0 {
			s.producers.recover(cn.ctx, topic, part)
			sn, prev, dup, code := s.producers.check(topic, part, b)
			if code != 0 {
				return out, code, nil
			}
			if dup {
				out = append(out, sn)
				continue
			}
			j.pid, j.s, j.prev = b.producerID, sn, prev
			j.msgID = msgID(b.producerID, b.producerEpoch, b.baseSequence, topic)
		} else {
			j.s = &sent{done: make(chan struct{})}
		}
		out = append(out, j.s)
		if !cn.publisher().queue(cn.ctx, j) {
			return out, kerr.RequestTimedOut.Code, nil
		}
	}
	return out, 0, nil
}
