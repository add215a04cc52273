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
// flight, and a goroutine decodes ahead up to ~1 MiB of records (at least
// one message) plus the message it holds: a reader far behind never buffers
// its backlog, and the next messages arrive and decode while the caller
// processes the current ones.
type Reader struct {
	l         *Log
	topic     string
	partition int32
	subject   string
	stream    jetstream.Stream

	mu     sync.Mutex
	feed   *feed
	buf    []Record // the undelivered rest of the current chunk
	err    error    // the error that ended the feed, returned once buf is empty
	timer  *time.Timer
	closed bool
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
	var next, skipSeq uint64
	skip := 0
	switch {
	case offset == Earliest:
		next = 1
	case offset == Latest:
		next = info.State.LastSeq + 1
	case offset >= 0:
		seq, idx := SplitOffset(offset)
		if seq > info.State.LastSeq+1 || (seq == info.State.LastSeq+1 && idx > 0) {
			return fmt.Errorf("topic %q partition %d offset %d: %w (end is %d)",
				r.topic, r.partition, offset, ErrOffsetOutOfRange, MakeOffset(info.State.LastSeq+1, 0))
		}
		next, skipSeq, skip = max(seq, 1), seq, idx
	default:
		return fmt.Errorf("topic %q partition %d: %w: offset %d", r.topic, r.partition, ErrOffsetOutOfRange, offset)
	}
	r.buf, r.err = nil, nil
	return r.start(ctx, next, skipSeq, skip)
}

// start replaces the feed so it begins at sequence next.
func (r *Reader) start(ctx context.Context, next, skipSeq uint64, skip int) error {
	r.stop()
	cons, err := r.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{r.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    next,
	})
	if err != nil {
		return fmt.Errorf("topic %q partition %d: open consumer at seq %d: %w", r.topic, r.partition, next, err)
	}
	// The message count only sizes the client's channel; bytes are the bound.
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(1024, readBuffer))
	if err != nil {
		return fmt.Errorf("topic %q partition %d: open consumer at seq %d: %w", r.topic, r.partition, next, err)
	}
	r.feed = newFeed(it, r.topic, r.partition, skipSeq, skip)
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
	if len(r.buf) == 0 && r.err == nil {
		if err := r.wait(ctx, maxWait); err != nil {
			return nil, err
		}
	}
	return r.take(max, maxBytes)
}

// wait waits up to maxWait for the feed to queue something, and takes it.
func (r *Reader) wait(ctx context.Context, maxWait time.Duration) error {
	if r.refill() {
		return nil
	}
	if r.timer == nil {
		r.timer = time.NewTimer(max(maxWait, time.Millisecond))
	} else {
		r.timer.Reset(max(maxWait, time.Millisecond))
	}
	defer r.timer.Stop()
	for {
		select {
		case <-r.feed.ready:
			if r.refill() {
				return nil
			}
		case <-r.timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// refill moves the next queued chunk into buf (or its error into err).
func (r *Reader) refill() bool {
	c, ok := r.feed.pop()
	if !ok {
		return false
	}
	if c.err != nil {
		r.err = c.err
		return true
	}
	r.buf = c.recs
	return true
}

// joinRecords is the largest queued chunk take copies onto the end of
// another: joining small chunks (a light load stores a few records per
// message) saves the caller calls, copying big ones costs more than it saves.
const joinRecords = 512

// take hands out buffered records, at least one, within max and maxBytes:
// the rest of the current chunk without copying, joined by whole small
// queued chunks that fit.
func (r *Reader) take(max, maxBytes int) ([]Record, error) {
	if len(r.buf) == 0 && (r.err != nil || !r.refill() || len(r.buf) == 0) {
		return nil, r.err
	}
	n, size := prefix(r.buf, max, maxBytes, 0)
	out := r.buf[:n:n]
	r.buf = r.buf[n:]
	for len(r.buf) == 0 && n < max && (maxBytes <= 0 || size < maxBytes) {
		next := r.feed.peek()
		if next <= 0 || next > joinRecords || n+next > max {
			break
		}
		if !r.refill() {
			break
		}
		k, s := prefix(r.buf, max-n, maxBytes-size, 1)
		if k < len(r.buf) {
			break // does not fit whole: keep it for the next call
		}
		out = append(out, r.buf...) // copies: out's capacity ends at its length
		n, size, r.buf = n+k, size+s, nil
	}
	if len(r.buf) == 0 {
		r.buf = nil
	}
	return out, nil
}

// prefix counts how many leading records of recs fit within max records and
// maxBytes (≤ 0: unbounded), taking at least min(1, len(recs)) unless
// atLeast is 1, and their size.
func prefix(recs []Record, max, maxBytes, atLeast int) (int, int) {
	n, size := 0, 0
	for n < len(recs) && n < max {
		s := len(recs[n].Key) + len(recs[n].Value)
		if (n > 0 || atLeast > 0) && maxBytes > 0 && size+s > maxBytes {
			break
		}
		size += s
		n++
	}
	return n, size
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
	if r.feed != nil {
		r.feed.stop()
		r.feed = nil
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
