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

// readBuffer is what a reader keeps in flight from the server: a few full
// batch messages (≤ ~1 MiB each). Topics refuse messages larger than
// maxMessageBytes, so one message always fits.
const (
	readBuffer      = 4 << 20
	maxMessageBytes = readBuffer - 64<<10
)

// Reader reads one partition in order.
//
// It streams from an ordered JetStream consumer (ephemeral, unacknowledged,
// recreated from the next sequence after a gap or reconnect) filtered on the
// partition subject. The client keeps at most 4 MiB of stored messages in
// flight, plus the undelivered rest of the
// last decoded batch: a reader far behind never buffers its backlog, and the
// next messages arrive while the caller processes the current ones.
type Reader struct {
	l         *Log
	topic     string
	partition int32
	subject   string
	stream    jetstream.Stream

	mu      sync.Mutex
	it      jetstream.MessagesContext
	skipSeq uint64 // skip the first skip records of the message at skipSeq
	skip    int
	buf     []Record
	held    jetstream.Msg // received but not yet decoded
	closed  bool
}

// NewReader opens a reader at offset from (or Earliest / Latest).
func (l *Log) NewReader(ctx context.Context, topic string, partition int32, from int64) (*Reader, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
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
	r := &Reader{l: l, topic: topic, partition: partition, subject: PartitionSubject(topic, partition), stream: s}
	if err := r.Seek(ctx, from); err != nil {
		return nil, err
	}
	if err := l.track(r); err != nil {
		r.stop()
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
	var next uint64
	switch {
	case offset == Earliest:
		next, r.skipSeq, r.skip = 1, 0, 0
	case offset == Latest:
		next, r.skipSeq, r.skip = info.State.LastSeq+1, 0, 0
	case offset >= 0:
		seq, idx := SplitOffset(offset)
		if seq > info.State.LastSeq+1 || (seq == info.State.LastSeq+1 && idx > 0) {
			return fmt.Errorf("topic %q partition %d offset %d: %w (end is %d)",
				r.topic, r.partition, offset, ErrOffsetOutOfRange, MakeOffset(info.State.LastSeq+1, 0))
		}
		next, r.skipSeq, r.skip = max(seq, 1), seq, idx
	default:
		return fmt.Errorf("topic %q partition %d: %w: offset %d", r.topic, r.partition, ErrOffsetOutOfRange, offset)
	}
	r.buf, r.held = nil, nil
	return r.start(ctx, next)
}

// start replaces the message stream so it begins at sequence next.
func (r *Reader) start(ctx context.Context, next uint64) error {
	if r.it != nil {
		r.it.Stop()
		r.it = nil
	}
	cons, err := r.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{r.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    next,
	})
	if err != nil {
		return fmt.Errorf("topic %q partition %d: open consumer at seq %d: %w", r.topic, r.partition, next, err)
	}
	buffer := readBuffer
	// The message count only sizes the client's channel; bytes are the bound.
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(1024, buffer))
	if err != nil {
		return fmt.Errorf("topic %q partition %d: open consumer at seq %d: %w", r.topic, r.partition, next, err)
	}
	r.it = it
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

// fill waits up to maxWait for one message, then takes whatever else has
// already arrived, until maxRecords or maxBytes are decoded. A message whose
// records would overflow maxRecords is held for the next call, so the
// records slice is sized once and never regrown.
func (r *Reader) fill(ctx context.Context, maxRecords, maxBytes int, maxWait time.Duration) error {
	wait := max(maxWait, time.Millisecond)
	size := 0
	for len(r.buf) < maxRecords && (maxBytes <= 0 || size < maxBytes) {
		m := r.held
		r.held = nil
		if m == nil {
			var err error
			if m, err = r.next(ctx, wait); m == nil {
				return err
			}
		}
		// Only what has already arrived is worth taking after the first.
		wait = 50 * time.Microsecond
		n := recordCount(m.Headers())
		if r.buf == nil {
			c := min(n, maxRecords)
			if n >= 256 { // a big batch: a lagging reader, likely to fill max
				c = max(n, maxRecords)
			}
			r.buf = make([]Record, 0, c)
		} else if len(r.buf)+n > cap(r.buf) && cap(r.buf) >= maxRecords {
			r.held = m
			return nil
		}
		dn, err := r.decode(m)
		if err != nil {
			return err
		}
		size += dn
	}
	return nil
}

// next returns the next stored message, or nil when none arrives within wait.
func (r *Reader) next(ctx context.Context, wait time.Duration) (jetstream.Msg, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := r.it.Next(jetstream.NextContext(wctx))
	if err == nil {
		return m, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return nil, nil
	}
	return nil, fmt.Errorf("topic %q partition %d: read: %w", r.topic, r.partition, err)
}

// decode appends a stored message's records to r.buf and returns its size.
func (r *Reader) decode(m jetstream.Msg) (int, error) {
	md, err := m.Metadata()
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d: %w", r.topic, r.partition, err)
	}
	seq := md.Sequence.Stream
	skip := 0
	if seq == r.skipSeq {
		skip = r.skip
	}
	h, data := m.Headers(), m.Data()
	if h.Get(HeaderBatch) != "" {
		r.buf, err = decodeBatch(r.buf, data, r.partition, seq, skip)
		if err != nil {
			return 0, fmt.Errorf("topic %q partition %d offset %d: %w", r.topic, r.partition, MakeOffset(seq, 0), err)
		}
	} else if skip == 0 {
		r.buf = append(r.buf, decodeSingle(h, data, r.partition, seq, md.Timestamp))
	}
	return len(data), nil
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
	r.stop()
}

func (r *Reader) stop() {
	if r.it != nil {
		r.it.Stop()
		r.it = nil
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
