package log

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// minFetchBytes is the least a fetch asks the server for, so that one full
// batch message (≤ ~1 MiB) always fits.
const minFetchBytes = 2 << 20

// Reader reads one partition in order.
//
// It pulls from an ephemeral, unacknowledged JetStream consumer filtered on
// the partition subject. Memory is bounded by what one Fetch asks for (at
// most max(maxBytes, 2 MiB) of stored messages) plus the undelivered rest of
// the last decoded batch: a reader far behind never buffers its backlog.
type Reader struct {
	l         *Log
	topic     string
	partition int32
	subject   string
	stream    jetstream.Stream

	mu      sync.Mutex
	cons    jetstream.Consumer
	next    uint64 // next stream sequence to read
	skipSeq uint64 // skip the first skip records of the message at skipSeq
	skip    int
	consSeq uint64 // last consumer sequence seen, to detect gaps
	pending uint64 // messages known to follow the last one delivered
	buf     []Record
	perMsg  float64 // records per message, moving average
	closed  bool
}

// NewReader opens a reader at offset from (or Earliest / Latest).
func (l *Log) NewReader(ctx context.Context, topic string, partition int32, from int64) (*Reader, error) {
	meta, err := l.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	if partition < 0 || int(partition) >= meta.partitions {
		return nil, fmt.Errorf("topic %q: partition %d out of range (topic has %d)", topic, partition, meta.partitions)
	}
	s, err := l.stream(ctx, topic)
	if err != nil {
		return nil, err
	}
	r := &Reader{l: l, topic: topic, partition: partition, subject: PartitionSubject(topic, partition), stream: s, perMsg: 1}
	if err := r.Seek(ctx, from); err != nil {
		return nil, err
	}
	if err := l.track(r); err != nil {
		return nil, err
	}
	return r, nil
}

// Seek moves the reader to an offset (or Earliest / Latest).
func (r *Reader) Seek(ctx context.Context, offset int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	info, err := r.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("topic %q partition %d: %w", r.topic, r.partition, err)
	}
	switch {
	case offset == Earliest:
		r.next, r.skipSeq, r.skip = 1, 0, 0
	case offset == Latest:
		r.next, r.skipSeq, r.skip = info.State.LastSeq+1, 0, 0
	case offset >= 0:
		seq, idx := SplitOffset(offset)
		if seq > info.State.LastSeq+1 || (seq == info.State.LastSeq+1 && idx > 0) {
			return fmt.Errorf("topic %q partition %d offset %d: %w (end is %d)",
				r.topic, r.partition, offset, ErrOffsetOutOfRange, MakeOffset(info.State.LastSeq+1, 0))
		}
		if seq == 0 {
			seq = 1
		}
		r.next, r.skipSeq, r.skip = seq, seq, idx
	default:
		return fmt.Errorf("topic %q partition %d: %w: offset %d", r.topic, r.partition, ErrOffsetOutOfRange, offset)
	}
	r.buf = nil
	return r.resetConsumer(ctx)
}

// resetConsumer replaces the server-side consumer so it starts at r.next.
func (r *Reader) resetConsumer(ctx context.Context) error {
	if r.cons != nil {
		name := r.cons.CachedInfo().Name
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = r.stream.DeleteConsumer(dctx, name) // best effort: it also expires when idle
		cancel()
		r.cons = nil
	}
	cons, err := r.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     r.subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       r.next,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 5 * time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("topic %q partition %d: open consumer at seq %d: %w", r.topic, r.partition, r.next, err)
	}
	r.cons, r.consSeq, r.pending = cons, 0, cons.CachedInfo().NumPending
	return nil
}

// Fetch returns up to max records (bounded also by maxBytes), waiting up to
// maxWait for the first one; an empty result is not an error.
func (r *Reader) Fetch(ctx context.Context, max int, maxBytes int, maxWait time.Duration) ([]Record, error) {
	if max <= 0 {
		max = 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if len(r.buf) == 0 {
		if err := r.fill(ctx, max, maxBytes, maxWait); err != nil {
			return nil, err
		}
	}
	return r.take(max, maxBytes), nil
}

// take hands out buffered records, at least one, within max and maxBytes.
func (r *Reader) take(max, maxBytes int) []Record {
	n, size := 0, 0
	for n < len(r.buf) && n < max {
		size += len(r.buf[n].Key) + len(r.buf[n].Value)
		if n > 0 && maxBytes > 0 && size > maxBytes {
			break
		}
		n++
	}
	out := r.buf[:n:n]
	r.buf = r.buf[n:]
	if len(r.buf) == 0 {
		r.buf = nil
	}
	return out
}

// fill fetches stored messages and decodes them into r.buf.
//
// A JetStream pull request returns early only when its message count or byte
// budget is met, so the count asked for never exceeds the messages known to
// be pending; when none are, it asks for one and waits up to maxWait.
func (r *Reader) fill(ctx context.Context, maxRecords, maxBytes int, maxWait time.Duration) error {
	if r.pending == 0 && maxWait <= 0 {
		info, err := r.cons.Info(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("topic %q partition %d: %w", r.topic, r.partition, err)
		}
		if err == nil && info.NumPending == 0 {
			return nil
		}
		if err == nil {
			r.pending = info.NumPending
		}
	}
	want, wait := 1, maxWait
	if r.pending > 0 {
		want = min(int(float64(maxRecords)/r.perMsg)+1, maxRecords, int(min(r.pending, 1<<20)))
		wait = max(maxWait, time.Second)
	}
	fetchBytes := max(maxBytes, minFetchBytes)
	for attempt := 0; ; attempt++ {
		msgs, err := r.fetch(ctx, want, fetchBytes, wait)
		if errors.Is(err, jetstream.ErrMaxBytesExceeded) && len(msgs) == 0 && fetchBytes < 64<<20 {
			want, fetchBytes = 1, fetchBytes*4 // one message larger than the budget
			continue
		}
		if err != nil && attempt == 0 && (errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, nats.ErrNoResponders)) {
			if rerr := r.resetConsumer(ctx); rerr != nil {
				return rerr
			}
			continue
		}
		if len(msgs) == 0 {
			if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("topic %q partition %d: fetch: %w", r.topic, r.partition, err)
			}
			return ctx.Err()
		}
		return r.decode(ctx, msgs)
	}
}

func (r *Reader) fetch(ctx context.Context, n, maxBytes int, maxWait time.Duration) ([]jetstream.Msg, error) {
	maxWait = max(maxWait, 10*time.Millisecond)
	fctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	batch, err := r.cons.Fetch(n, jetstream.FetchMaxBytes(maxBytes), jetstream.FetchContext(fctx))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	return msgs, batch.Error()
}

func (r *Reader) decode(ctx context.Context, msgs []jetstream.Msg) error {
	records := 0
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("topic %q partition %d: %w", r.topic, r.partition, err)
		}
		if r.consSeq != 0 && md.Sequence.Consumer != r.consSeq+1 {
			// A delivery went missing (e.g. a reconnect): restart from the
			// next sequence we have not decoded.
			return r.resetConsumer(ctx)
		}
		r.consSeq, r.pending = md.Sequence.Consumer, md.NumPending
		seq := md.Sequence.Stream
		skip := 0
		if seq == r.skipSeq {
			skip = r.skip
		}
		h := m.Headers()
		if h.Get(HeaderBatch) != "" {
			before := len(r.buf)
			r.buf, err = decodeBatch(r.buf, m.Data(), r.partition, seq, skip)
			if err != nil {
				return fmt.Errorf("topic %q partition %d offset %d: %w", r.topic, r.partition, MakeOffset(seq, 0), err)
			}
			records += len(r.buf) - before + skip
		} else {
			if skip == 0 {
				r.buf = append(r.buf, decodeSingle(h, m.Data(), r.partition, seq, md.Timestamp))
			}
			records++
		}
		r.next = seq + 1
	}
	r.perMsg = 0.7*r.perMsg + 0.3*float64(records)/float64(len(msgs))
	if r.perMsg < 1 {
		r.perMsg = 1
	}
	return nil
}

// Close releases the reader.
func (r *Reader) Close() error {
	r.closeFromLog()
	r.l.untrack(r)
	return nil
}

func (r *Reader) closeFromLog() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	r.buf = nil
	if r.cons != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.stream.DeleteConsumer(ctx, r.cons.CachedInfo().Name)
		cancel()
	}
}

// OffsetForTime returns the first offset at or after t: the first record
// with a timestamp ≥ t in the first message stored at or after t. When
// nothing was stored since t it returns the partition's end (the offset the
// next record will have or exceed).
func (l *Log) OffsetForTime(ctx context.Context, topic string, partition int32, t time.Time) (int64, error) {
	s, err := l.stream(ctx, topic)
	if err != nil {
		return 0, err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{PartitionSubject(topic, partition)},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &t,
	})
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d: offset for time: %w", topic, partition, err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
		info, err := s.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("topic %q: %w", topic, err)
		}
		return MakeOffset(info.State.LastSeq+1, 0), nil
	}
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d: offset for time: %w", topic, partition, err)
	}
	md, err := msg.Metadata()
	if err != nil {
		return 0, err
	}
	seq := md.Sequence.Stream
	if msg.Headers().Get(HeaderBatch) == "" {
		return MakeOffset(seq, 0), nil
	}
	recs, err := decodeBatch(nil, msg.Data(), partition, seq, 0)
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d offset %d: %w", topic, partition, MakeOffset(seq, 0), err)
	}
	for _, rec := range recs {
		if !rec.Timestamp.Before(t) {
			return rec.Offset, nil
		}
	}
	return MakeOffset(seq+1, 0), nil
}
