package log

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
	// ID names the producer; stored with each batch so LastMeta can find it.
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
	// Meta is stored with every message of the batch (e.g. a source position)
	// and returned by LastMeta.
	Meta []Header
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
	pending   *Pending
	partition int32
	recs      []int // indexes into pending.recs, in batch order
	// group holds the earlier messages of an atomic batch whose commit is
	// this message: they are stored right before it, in order.
	group []*inflight
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
	pend := &Pending{topic: b.Topic, recs: append([]Record(nil), b.Records...), done: make(chan struct{})}
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
		if err := p.sendAtomic(ctx, msgs); err != nil {
			p.failUnsent(pend, len(msgs), err)
			return pend, err
		}
		p.last.Store(pend)
		return pend, nil
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
	fut, err := p.l.js.PublishMsgAsync(m.msg)
	if err != nil {
		<-p.slots
		return fmt.Errorf("publish to %s: %w", m.msg.Subject, err)
	}
	m.item.fut = fut
	p.queue <- m.item
	return nil
}

// maxAtomicMessages is the server's default bound on an atomic batch.
const maxAtomicMessages = 1000

// sendAtomic stores msgs as one JetStream atomic batch: every message but the
// last is staged with a plain publish, the last commits the batch and its
// acknowledgement settles them all. It takes one slot of the window.
func (p *Producer) sendAtomic(ctx context.Context, msgs []outMsg) error {
	if len(msgs) > maxAtomicMessages {
		return fmt.Errorf("atomic batch of %d messages exceeds %d", len(msgs), maxAtomicMessages)
	}
	for _, m := range msgs {
		if m.msg.Header == nil {
			return errors.New("atomic batch: a record could not be encoded")
		}
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return ErrClosed
	}
	id := nuid.Next()
	last := msgs[len(msgs)-1]
	for i, m := range msgs {
		m.msg.Header.Set(headerBatchID, id)
		m.msg.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := p.l.conn.NC.PublishMsg(m.msg); err != nil {
				<-p.slots
				return fmt.Errorf("publish to %s: %w", m.msg.Subject, err)
			}
			last.item.group = append(last.item.group, m.item)
		}
	}
	last.msg.Header.Set(headerBatchCommit, "1")
	fut, err := p.l.js.PublishMsgAsync(last.msg)
	if err != nil {
		<-p.slots
		return fmt.Errorf("publish to %s: %w", last.msg.Subject, err)
	}
	last.item.fut = fut
	p.queue <- last.item
	return nil
}

// Atomic batch headers (ADR-50).
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// failUnsent settles the n messages of pend that were never sent.
func (p *Producer) failUnsent(pend *Pending, n int, err error) {
	pend.setErr(err)
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
	select {
	case ack := <-it.fut.Ok():
		for j, ri := range it.recs {
			pend.recs[ri].Offset = MakeOffset(ack.Sequence, j)
		}
		// An atomic batch is stored contiguously, its commit last.
		for g, staged := range it.group {
			seq := ack.Sequence - uint64(len(it.group)-g)
			for j, ri := range staged.recs {
				pend.recs[ri].Offset = MakeOffset(seq, j)
			}
		}
	case err := <-it.fut.Err():
		if isFull(err) {
			err = ErrTopicFull
		}
		pend.setErr(fmt.Errorf("topic %q partition %d: %w", pend.topic, it.partition, err))
	case <-p.stop:
		pend.setErr(ErrClosed)
	}
	for range it.group {
		pend.settled()
	}
	pend.settled()
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

// LastMeta returns the Meta of the last batch the producer id stored in the
// topic after stream sequence afterSeq (0: scan all), and that message's
// sequence. found is false when there is none. It reads headers only.
func (l *Log) LastMeta(ctx context.Context, topic, producerID string, afterSeq uint64) (meta []Header, seq uint64, found bool, err error) {
	s, err := l.stream(ctx, topic)
	if err != nil {
		return nil, 0, false, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, 0, false, fmt.Errorf("topic %q: %w", topic, err)
	}
	lastSeq := info.State.LastSeq
	if info.State.Msgs == 0 || lastSeq <= afterSeq {
		return nil, 0, false, nil
	}
	cc := jetstream.OrderedConsumerConfig{HeadersOnly: true, DeliverPolicy: jetstream.DeliverAllPolicy}
	if afterSeq > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, afterSeq+1
	}
	cons, err := s.OrderedConsumer(ctx, cc)
	if err != nil {
		return nil, 0, false, fmt.Errorf("topic %q: scan for producer %q: %w", topic, producerID, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, 0, false, fmt.Errorf("topic %q: scan for producer %q: %w", topic, producerID, err)
	}
	defer it.Stop()
	var metaHdr string
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, false, err
		}
		msg, err := it.Next(jetstream.NextMaxWait(5 * time.Second))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			break // the tail was removed by retention meanwhile
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("topic %q: scan for producer %q: %w", topic, producerID, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, 0, false, err
		}
		if msg.Headers().Get(HeaderProducer) == producerID {
			seq, found, metaHdr = md.Sequence.Stream, true, msg.Headers().Get(HeaderMeta)
		}
		if md.Sequence.Stream >= lastSeq || md.NumPending == 0 {
			break
		}
	}
	if !found {
		return nil, 0, false, nil
	}
	meta, err = decodeMeta(metaHdr)
	if err != nil {
		return nil, 0, false, fmt.Errorf("topic %q seq %d: bad %s header: %w", topic, seq, HeaderMeta, err)
	}
	return meta, seq, true, nil
}
