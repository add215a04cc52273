package log

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// ProducerOptions configures a Producer.
type ProducerOptions struct {
	// ID names the producer; stored with each batch (header Braid-Producer).
	ID string
	// MaxInFlight bounds stored-but-unacknowledged messages (default 256).
	MaxInFlight int
}

// Batch is what one Publish call stores.
type Batch struct {
	Topic   string
	Records []Record // Partition -1: key → murmur2 partition, no key → round-robin
	// MsgID makes the publish idempotent within the duplicate window; the log
	// derives one id per stored message from it.
	MsgID string
	// Meta is stored with every message of the batch (e.g. a source
	// position), header Braid-Meta.
	Meta []Header
	// Handoff gives Records to the log: Publish uses the slice itself
	// instead of a copy (and sets its records' partitions and offsets);
	// the caller must not touch it afterwards.
	Handoff bool
	// Atomic stores every message of the batch or none (JetStream atomic
	// batch publish), so a crash never leaves part of a batch that spans
	// partitions in the log. Needs Log.Atomic(); otherwise ignored.
	Atomic bool
}

// Producer publishes batches with a bounded in-flight window. It is safe for
// concurrent use; messages are stored in the order Publish calls return.
type Producer struct {
	l     *Log
	id    string
	slots chan struct{}  // one per in-flight message
	queue chan *inflight // acknowledgements, in publish order
	stop  chan struct{}
	acked chan struct{} // closed when the acker goroutine ends

	mu     sync.Mutex // serialises Publish so the queue keeps publish order
	rr     uint32
	last   atomic.Pointer[Pending] // the latest batch with messages in the queue
	closed bool
	once   sync.Once
}

// inflight is one stored message awaiting its acknowledgement.
type inflight struct {
	fut       jetstream.PubAckFuture
	msg       *nats.Msg
	pending   *Pending
	partition int32
	recs      []int     // indexes into pending.recs, in batch order
	tail      *partTail // the partition's turn, held until the answer
	first     int64     // the offset of its first record
}

// Pending is a published batch awaiting acknowledgement.
type Pending struct {
	topic     string
	recs      []Record
	remaining atomic.Int64 // messages not yet settled
	mu        sync.Mutex
	err       error
	done      chan struct{}
}

// Producer returns a new producer.
func (l *Log) Producer(opts ProducerOptions) *Producer {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	p := &Producer{
		l: l, id: opts.ID,
		slots: make(chan struct{}, opts.MaxInFlight),
		queue: make(chan *inflight, opts.MaxInFlight),
		stop:  make(chan struct{}),
		acked: make(chan struct{}),
	}
	if err := l.track(p); err != nil {
		p.closed = true
		close(p.stop)
		close(p.acked)
		return p
	}
	go p.ack()
	return p
}

// Publish stores a batch asynchronously; it blocks while the window is full.
// Records are copied shallowly: callers must not change keys and values
// until the Pending is done.
func (p *Producer) Publish(ctx context.Context, b Batch) (*Pending, error) {
	meta, err := p.l.partitions(ctx, b.Topic)
	if err != nil {
		return nil, err
	}
	recs := b.Records
	if !b.Handoff {
		recs = append([]Record(nil), b.Records...)
	}
	pend := &Pending{topic: b.Topic, recs: recs, done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	byPart, err := p.assign(pend.recs, meta.partitions, b.Topic)
	if err != nil {
		return nil, err
	}
	msgs := p.buildMessages(b, pend, byPart, meta)
	pend.remaining.Store(int64(len(msgs)))
	if len(msgs) == 0 {
		close(pend.done)
		return pend, nil
	}
	if b.Atomic && p.l.atomic && len(msgs) > 1 {
		// Synchronous: every partition's turn is held until the answer.
		_, err := p.l.appendAtomic(ctx, b.Topic, meta, nil, msgs)
		if err != nil {
			pend.setErr(p.l.publishErr(b.Topic, err))
		} else {
			for _, m := range msgs {
				for j, ri := range m.item.recs {
					pend.recs[ri].Offset = m.item.first + int64(j)
				}
			}
		}
		p.failUnsent(pend, len(msgs), nil)
		return pend, pend.err
	}
	for i, m := range msgs {
		if err := p.send(ctx, m); err != nil {
			// Messages not sent fail the batch; sent ones still settle.
			p.failUnsent(pend, len(msgs)-i, err)
			if i > 0 {
				p.last.Store(pend)
			}
			return pend, err
		}
	}
	p.last.Store(pend)
	return pend, nil
}

type outMsg struct {
	msg  *nats.Msg
	item *inflight
}

// assign sets each record's partition and timestamp and groups record
// indexes by partition, keeping batch order within a partition.
func (p *Producer) assign(recs []Record, n int, topic string) (map[int32][]int, error) {
	byPart := make(map[int32][]int, n)
	now := time.Now()
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Partition >= 0 && int(r.Partition) < n:
		case r.Partition >= 0:
			return nil, fmt.Errorf("topic %q record %d: partition %d out of range (topic has %d)", topic, i, r.Partition, n)
		case r.Key != nil:
			r.Partition = KeyPartition(r.Key, n)
		default:
			r.Partition = int32(p.rr % uint32(n))
			p.rr++
		}
		if r.Timestamp.IsZero() {
			r.Timestamp = now
		}
		r.Offset = -1
		byPart[r.Partition] = append(byPart[r.Partition], i)
	}
	return byPart, nil
}

func (p *Producer) buildMessages(b Batch, pend *Pending, byPart map[int32][]int, meta topicMeta) []outMsg {
	var out []outMsg
	metaHdr := encodeMeta(b.Meta)
	for part := range int32(meta.partitions) {
		idx := byPart[part]
		if len(idx) == 0 {
			continue
		}
		subj := PartitionSubject(b.Topic, part)
		limit := p.batchLimit(len(metaHdr) + len(b.MsgID))
		for chunk, recIdx := range p.chunks(pend.recs, idx, meta.batching, limit) {
			m := &nats.Msg{Subject: subj, Header: nats.Header{}}
			if b.MsgID != "" {
				m.Header.Set(jetstream.MsgIDHeader, b.MsgID+"-"+strconv.Itoa(int(part))+"-"+strconv.Itoa(chunk))
			}
			if p.id != "" {
				m.Header.Set(HeaderProducer, p.id)
			}
			if metaHdr != "" {
				m.Header.Set(HeaderMeta, metaHdr)
			}
			if meta.batching {
				m.Header.Set(HeaderBatch, strconv.Itoa(len(recIdx)))
				m.Data = encodeBatch(pend.recs, recIdx, meta.compress)
			} else if err := encodeSingle(m, &pend.recs[recIdx[0]]); err != nil {
				m.Data, m.Header = nil, nil // marks the message as failed below
				pend.setErr(fmt.Errorf("topic %q partition %d: %w", b.Topic, part, err))
			}
			out = append(out, outMsg{msg: m, item: &inflight{pending: pend, partition: part, recs: recIdx}})
		}
	}
	return out
}

// chunks splits one partition's record indexes into stored messages.
func (p *Producer) chunks(recs []Record, idx []int, batching bool, limit int) [][]int {
	if !batching {
		out := make([][]int, len(idx))
		for i := range idx {
			out[i] = idx[i : i+1]
		}
		return out
	}
	var out [][]int
	start, size := 0, 0
	for i, ri := range idx {
		s := recordSize(&recs[ri])
		if i > start && (i-start >= MaxBatchRecords || size+s > limit) {
			out = append(out, idx[start:i])
			start, size = i, 0
		}
		size += s
	}
	return append(out, idx[start:])
}

// batchLimit is the payload size at which a batch is split: ~1 MiB, less
// when the server's max payload is smaller (headers need room too).
func (p *Producer) batchLimit(headerBytes int) int {
	limit := maxBatchBytes
	if mp := int(p.l.conn.NC.MaxPayload()); mp > 0 && mp-headerBytes-4096 < limit {
		limit = max(mp-headerBytes-4096, 1024)
	}
	return limit
}

func (p *Producer) send(ctx context.Context, m outMsg) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return ErrClosed
	}
	if m.msg.Header == nil { // encoding failed; settle without storing
		m.item.fut = nil
		p.queue <- m.item
		return nil
	}
	topic, part := m.item.pending.topic, m.item.partition
	t := p.l.tailOf(topic, part)
	if err := t.acquire(ctx, p.stop); err != nil {
		<-p.slots
		return err
	}
	if err := p.l.ready(ctx, topic, part, t); err != nil {
		t.release()
		<-p.slots
		return err
	}
	m.item.tail, m.item.first, m.item.msg = t, t.next, m.msg
	setOffsets(m.msg, t)
	fut, err := p.l.js.PublishMsgAsync(m.msg)
	if err != nil {
		t.known = false
		t.release()
		<-p.slots
		return fmt.Errorf("publish to %s: %w", m.msg.Subject, err)
	}
	m.item.fut = fut
	p.queue <- m.item
	return nil
}

// maxAtomicMessages is the server's default bound on an atomic batch.
const maxAtomicMessages = 1000

// appendAtomic stores lead (a writer's fence, or nil) and msgs as one
// JetStream atomic batch, holding the turn of every partition it writes:
// the first message of each partition carries the partition's expected
// last sequence, and every message its first offset. On success each
// message's item.first is set and the tails move; a mismatch on a
// partition (another writer appended) is retried after reading the tails
// again, unless there is a lead, whose own check the caller must inspect.
//
// It returns the stream sequence of the batch's first message.
func (l *Log) appendAtomic(ctx context.Context, topic string, meta topicMeta, lead *nats.Msg, msgs []outMsg) (uint64, error) {
	n := len(msgs)
	if lead != nil {
		n++
	}
	if n > maxAtomicMessages {
		return 0, fmt.Errorf("atomic batch of %d messages exceeds %d", n, maxAtomicMessages)
	}
	for _, m := range msgs {
		if m.msg.Header == nil {
			return 0, errors.New("atomic batch: a record could not be encoded")
		}
	}
	// Turns in partition order, so two atomic writers never wait on each other in a cycle.
	var parts []int32
	tails := map[int32]*partTail{}
	for _, m := range msgs {
		if _, ok := tails[m.item.partition]; !ok {
			tails[m.item.partition] = l.tailOf(topic, m.item.partition)
			parts = append(parts, m.item.partition)
		}
	}
	slices.Sort(parts)
	for i, part := range parts {
		if err := tails[part].acquire(ctx, nil); err != nil {
			for _, q := range parts[:i] {
				tails[q].release()
			}
			return 0, err
		}
	}
	defer func() {
		for _, part := range parts {
			tails[part].release()
		}
	}()
	for attempt := 0; ; attempt++ {
		first, err := l.tryAtomic(ctx, topic, meta, lead, msgs, parts, tails)
		if err == nil || lead != nil || !isWrongSeq(err) || attempt >= maxFenceRetries || ctx.Err() != nil {
			return first, err
		}
		for _, part := range parts {
			tails[part].known = false
		}
	}
}

// maxFenceRetries bounds how often a write is retried after another
// writer appended to its partition first.
const maxFenceRetries = 50

func (l *Log) tryAtomic(ctx context.Context, topic string, meta topicMeta, lead *nats.Msg, msgs []outMsg,
	parts []int32, tails map[int32]*partTail) (uint64, error) {
	for _, part := range parts {
		if err := l.ready(ctx, topic, part, tails[part]); err != nil {
			return 0, err
		}
	}
	all := make([]*nats.Msg, 0, len(msgs)+1)
	if lead != nil {
		all = append(all, lead)
	}
	next := map[int32]int64{}
	for _, part := range parts {
		next[part] = tails[part].next
	}
	for _, m := range msgs {
		part := m.item.partition
		m.msg.Header.Del(jetstream.ExpectedLastSubjSeqHeader)
		if next[part] == tails[part].next {
			setOffsets(m.msg, tails[part]) // the partition's first message in the batch: fenced
		} else {
			m.msg.Header.Set(HeaderOffset, strconv.FormatInt(next[part], 10))
		}
		m.item.first = next[part]
		next[part] += int64(len(m.item.recs))
		all = append(all, m.msg)
	}
	id := nuid.Next()
	for i, m := range all {
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		m.Header.Del(headerBatchCommit)
		if i < len(all)-1 {
			if err := l.conn.NC.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("publish to %s: %w", m.Subject, err)
			}
		}
	}
	last := all[len(all)-1]
	last.Header.Set(headerBatchCommit, "1")
	ack, err := l.js.PublishMsg(ctx, last)
	if err != nil {
		for _, part := range parts {
			tails[part].known = false
		}
		return 0, err
	}
	// The batch is stored contiguously, its commit last.
	first := ack.Sequence - uint64(len(all)-1)
	seq := first
	if lead != nil {
		seq++
	}
	for _, m := range msgs {
		t := tails[m.item.partition]
		t.seq, t.next = seq, m.item.first+int64(len(m.item.recs))
		seq++
	}
	for _, part := range parts {
		l.noteEnd(topic, part, tails[part].next, meta)
	}
	return first, nil
}

// Atomic batch headers (ADR-50).
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// failUnsent settles the n messages of pend that were never sent.
func (p *Producer) failUnsent(pend *Pending, n int, err error) {
	if err != nil {
		pend.setErr(err)
	}
	for range n {
		pend.settled()
	}
}

// ack settles acknowledgements in publish order.
func (p *Producer) ack() {
	defer close(p.acked)
	for {
		select {
		case it := <-p.queue:
			p.settle(it)
			<-p.slots
		case <-p.stop:
			for {
				select {
				case it := <-p.queue:
					it.pending.setErr(ErrClosed)
					it.pending.settled()
				default:
					return
				}
			}
		}
	}
}

func (p *Producer) settle(it *inflight) {
	pend := it.pending
	if it.fut == nil {
		pend.settled()
		return
	}
	t := it.tail
	defer func() {
		t.release()
		pend.settled()
	}()
	var ack *jetstream.PubAck
	var err error
	select {
	case ack = <-it.fut.Ok():
	case err = <-it.fut.Err():
	case <-p.stop:
		t.known = false
		pend.setErr(ErrClosed)
		return
	}
	// Another writer appended to the partition first: nothing was stored,
	// so read the tail again and store the message after it.
	for attempt := 0; isWrongSeq(err) && attempt < maxFenceRetries; attempt++ {
		ack, err = p.retry(it)
	}
	if err != nil {
		t.known = false
		if isFull(err) {
			err = ErrTopicFull
		}
		pend.setErr(fmt.Errorf("topic %q partition %d: %w", pend.topic, it.partition, err))
		return
	}
	first := it.first
	if ack.Duplicate {
		// Stored before (a replay within the duplicate window): its records
		// keep the offsets they were given then, and the tail is read again.
		t.known = false
		if first, err = p.l.firstOffsetAt(pend.topic, ack.Sequence); err != nil {
			pend.setErr(fmt.Errorf("topic %q partition %d: %w", pend.topic, it.partition, err))
			return
		}
	} else {
		t.seq, t.next = ack.Sequence, it.first+int64(len(it.recs))
		if meta, merr := p.l.partitions(context.Background(), pend.topic); merr == nil {
			p.l.noteEnd(pend.topic, it.partition, t.next, meta)
		}
	}
	for j, ri := range it.recs {
		pend.recs[ri].Offset = first + int64(j)
	}
}

// retry publishes a refused message again after reading the tail; the
// caller holds the partition's turn.
func (p *Producer) retry(it *inflight) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := it.tail
	if err := p.l.syncTail(ctx, it.pending.topic, it.partition, t); err != nil {
		return nil, err
	}
	it.first = t.next
	setOffsets(it.msg, t)
	return p.l.js.PublishMsg(ctx, it.msg)
}

// firstOffsetAt reads the first offset of the message at seq.
func (l *Log) firstOffsetAt(topic string, seq uint64) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, hdr, err := l.msgFromLeader(ctx, StreamName(topic), map[string]any{"seq": seq})
	if err != nil {
		return 0, err
	}
	first, _, err := msgOffsets(hdr)
	return first, err
}

func (l *Log) publishErr(topic string, err error) error {
	if isFull(err) {
		return fmt.Errorf("topic %q: %w", topic, ErrTopicFull)
	}
	if errors.Is(err, ErrTopicFull) {
		return err
	}
	return fmt.Errorf("topic %q: %w", topic, err)
}

func (pend *Pending) setErr(err error) {
	pend.mu.Lock()
	defer pend.mu.Unlock()
	if pend.err == nil {
		pend.err = err
	}
}

func (pend *Pending) settled() {
	if pend.remaining.Add(-1) == 0 {
		close(pend.done)
	}
}

// Flush waits until everything published so far is acknowledged.
func (p *Producer) Flush(ctx context.Context) error {
	last := p.last.Load()
	if last == nil {
		return nil
	}
	select {
	case <-last.done:
		return nil
	default:
	}
	select {
	case <-last.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.acked:
		return ErrClosed
	}
}

// Close flushes within ctx and releases the producer.
func (p *Producer) Close(ctx context.Context) error {
	err := p.Flush(ctx)
	p.shutdown()
	p.l.untrack(p)
	return err
}

func (p *Producer) closeFromLog() { p.shutdown() }

func (p *Producer) shutdown() {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		select {
		case <-p.stop:
		default:
			close(p.stop)
		}
		<-p.acked
	})
}

// Done is closed when the batch is acknowledged or failed.
func (pend *Pending) Done() <-chan struct{} { return pend.done }

// Wait returns the batch's records with Partition and Offset set, or the error.
func (pend *Pending) Wait(ctx context.Context) ([]Record, error) {
	select {
	case <-pend.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	pend.mu.Lock()
	defer pend.mu.Unlock()
	if pend.err != nil {
		return nil, pend.err
	}
	return pend.recs, nil
}

// encodeMeta renders meta headers as k=v&k=v, keeping order and repeats.
func encodeMeta(meta []Header) string {
	var sb strings.Builder
	for i, h := range meta {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(url.QueryEscape(h.Key))
		sb.WriteByte('=')
		sb.WriteString(url.QueryEscape(h.Value))
	}
	return sb.String()
}

func decodeMeta(s string) ([]Header, error) {
	if s == "" {
		return nil, nil
	}
	var out []Header
	for _, kv := range strings.Split(s, "&") {
		k, v, _ := strings.Cut(kv, "=")
		uk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out = append(out, Header{Key: uk, Value: uv})
	}
	return out, nil
}
