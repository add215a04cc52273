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
		return nil, fmt.Errorf("topic %q: partition %d out of range (topic has %d): %w", topic, partition, meta.partitions, ErrPartitionNotFound)
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

// Seek moves the reader to an offset (or Earliest / Latest). An offset
// below the partition's first (removed by retention) or beyond its end
// fails with an *OffsetRangeError naming both.
func (r *Reader) Seek(ctx context.Context, offset int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	var next uint64
	from := int64(0)
	switch {
	case offset == Earliest:
		next = 1
	case offset == Latest:
		info, err := r.stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("topic %q partition %d: %w", r.topic, r.partition, err)
		}
		next = info.State.LastSeq + 1
	case offset >= 0:
		seq, err := r.l.locate(ctx, r.topic, r.partition, offset)
		if err != nil {
			return err
		}
		next, from = seq, offset
	default:
		return fmt.Errorf("topic %q partition %d: %w: offset %d", r.topic, r.partition, ErrOffsetOutOfRange, offset)
	}
	r.buf, r.err = nil, nil
	return r.start(ctx, next, from)
}

// OffsetRangeError says an offset is outside what a partition holds.
type OffsetRangeError struct {
	Topic     string
	Partition int32
	Offset    int64
	First     int64 // the first offset still stored (= End when empty)
	End       int64 // the offset the next record gets
}

func (e *OffsetRangeError) Error() string {
	return fmt.Sprintf("topic %q partition %d offset %d: offset out of range: the partition holds offsets %d to %d (the next record gets %d)",
		e.Topic, e.Partition, e.Offset, e.First, e.End-1, e.End)
}

// Unwrap makes errors.Is(err, ErrOffsetOutOfRange) hold.
func (e *OffsetRangeError) Unwrap() error { return ErrOffsetOutOfRange }

// locate returns the stream sequence of the partition's message that holds
// offset (or, for the end offset, the sequence after the partition's last
// message): a binary search over the partition's messages by their first
// offsets, O(log n) reads of one message each.
func (l *Log) locate(ctx context.Context, topic string, p int32, offset int64) (uint64, error) {
	lastSeq, end, err := l.partitionEnd(ctx, topic, p)
	if err != nil {
		return 0, err
	}
	if offset == end {
		return lastSeq + 1, nil
	}
	fseq, first, found, err := l.probe(ctx, topic, p, 1)
	if err != nil {
		return 0, err
	}
	if !found {
		first = end
	}
	if offset > end || offset < first {
		return 0, &OffsetRangeError{Topic: topic, Partition: p, Offset: offset, First: first, End: end}
	}
	lo, hi := fseq, lastSeq // probe(lo) starts at or before offset
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		mseq, mfirst, found, err := l.probe(ctx, topic, p, mid)
		if err != nil {
			return 0, err
		}
		switch {
		case !found || mseq > hi: // nothing of the partition in [mid, hi]
			hi = mid - 1
		case mfirst <= offset:
			lo = mseq
		default:
			hi = mid - 1
		}
	}
	return lo, nil
}

// probe reads the partition's first message at or after stream sequence
// from: its sequence and first offset.
func (l *Log) probe(ctx context.Context, topic string, p int32, from uint64) (uint64, int64, bool, error) {
	seq, hdr, err := l.msgFromLeader(ctx, StreamName(topic), map[string]any{"seq": from, "next_by_subj": PartitionSubject(topic, p)})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("topic %q partition %d: read at seq %d: %w", topic, p, from, err)
	}
	first, _, err := msgOffsets(hdr)
	if err != nil {
		return 0, 0, false, fmt.Errorf("topic %q partition %d seq %d: %w", topic, p, seq, err)
	}
	return seq, first, true, nil
}

// start replaces the feed so it begins at sequence next, skipping records
// before offset from.
func (r *Reader) start(ctx context.Context, next uint64, from int64) error {
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
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(1024, readBuffer), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("topic %q partition %d: open consumer at seq %d: %w", r.topic, r.partition, next, err)
	}
	r.feed = newFeed(it, r.topic, r.partition, from)
	return nil
}

// Fetch returns up to max records (bounded also by maxBytes), waiting up to
// maxWait for the first one (maxWait ≤ 0: not at all, only what is already
// decoded); an empty result is not an error.
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
	if r.refill() || maxWait <= 0 {
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
	// On a cluster a consumer created a moment after its stream (or during
	// a leader change) may not answer yet: "no responders". Try again, a
	// bounded number of times.
	for attempt := 0; ; attempt++ {
		off, err := l.offsetForTime(ctx, topic, partition, t)
		if err == nil || !errors.Is(err, nats.ErrNoResponders) || attempt >= 20 {
			return off, err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return 0, err
		}
	}
}

func (l *Log) offsetForTime(ctx context.Context, topic string, partition int32, t time.Time) (int64, error) {
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
		_, end, err := l.partitionEnd(ctx, topic, partition)
		return end, err
	}
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d: offset for time: %w", topic, partition, err)
	}
	first, n, err := msgOffsets(msg.Headers())
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d: offset for time: %w", topic, partition, err)
	}
	if msg.Headers().Get(HeaderBatch) == "" {
		return first, nil
	}
	recs, err := decodeBatch(nil, msg.Data(), partition, first, 0)
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d offset %d: %w", topic, partition, first, err)
	}
	for _, rec := range recs {
		if !rec.Timestamp.Before(t) {
			return rec.Offset, nil
		}
	}
	return first + int64(n), nil
}
