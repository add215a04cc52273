package log

import (
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// queueBytes bounds the decoded records a feed keeps ready for its reader
// (one chunk is always admitted, however large).
const queueBytes = 1 << 20

// chunk is one stored message's records, decoded, or the error that ended
// the feed.
type chunk struct {
	recs  []Record
	bytes int
	err   error
}

// feed pumps one ordered consumer's messages into a small queue of decoded
// chunks. The pump blocks in Next without timers and decodes the next
// message while the reader's caller handles the previous one; the reader
// takes whatever is queued without waiting. Waiting with sub-millisecond
// timeouts instead would cost a full millisecond per fetch on an idle
// process (the Go runtime rounds shorter sleeps up to 1 ms).
type feed struct {
	it        jetstream.MessagesContext
	topic     string
	partition int32
	// from: records before this offset are skipped. It starts at the
	// reader's start (which may be inside a batch) and follows each decoded
	// message, so a message the consumer delivers again (after a reset) is
	// never handed out twice: offsets in a partition only grow.
	from int64

	done  chan struct{} // closed by stop
	ready chan struct{} // one token: the queue became non-empty
	space chan struct{} // one token: the queue dropped below queueBytes

	mu    sync.Mutex
	q     []chunk
	bytes int
}

func newFeed(it jetstream.MessagesContext, topic string, partition int32, from int64) *feed {
	f := &feed{
		it: it, topic: topic, partition: partition, from: from,
		done:  make(chan struct{}),
		ready: make(chan struct{}, 1),
		space: make(chan struct{}, 1),
	}
	go f.pump()
	return f
}

// stop ends the pump; queued chunks are dropped with the feed.
func (f *feed) stop() {
	select {
	case <-f.done:
	default:
		close(f.done)
	}
	f.it.Stop()
}

func (f *feed) pump() {
	for {
		m, err := f.it.Next()
		if err != nil {
			select {
			case <-f.done:
				return
			default:
			}
			f.push(chunk{err: fmt.Errorf("topic %q partition %d: read: %w", f.topic, f.partition, err)})
			return
		}
		c := f.decode(m)
		if !f.push(c) || c.err != nil {
			return
		}
	}
}

// decode turns a stored message into a chunk of records.
func (f *feed) decode(m jetstream.Msg) chunk {
	md, err := m.Metadata()
	if err != nil {
		return chunk{err: fmt.Errorf("topic %q partition %d: %w", f.topic, f.partition, err)}
	}
	h, data := m.Headers(), m.Data()
	first, n, err := msgOffsets(h)
	if err != nil {
		return chunk{err: fmt.Errorf("topic %q partition %d seq %d: %w", f.topic, f.partition, md.Sequence.Stream, err)}
	}
	// Records before the reader's start offset (it began inside this batch).
	skip := int(min(max(f.from-first, 0), int64(n)))
	if skip >= n {
		return chunk{}
	}
	if h.Get(HeaderBatch) == "" {
		f.from = first + 1
		return chunk{recs: []Record{decodeSingle(h, data, f.partition, first, md.Timestamp)}, bytes: len(data)}
	}
	recs, err := decodeBatch(make([]Record, 0, n-skip), data, f.partition, first, skip)
	if err != nil {
		return chunk{err: fmt.Errorf("topic %q partition %d offset %d: %w", f.topic, f.partition, first, err)}
	}
	f.from = first + int64(n)
	size := 0
	for i := range recs {
		size += len(recs[i].Key) + len(recs[i].Value)
	}
	return chunk{recs: recs, bytes: size}
}

// push queues c, waiting while the queue is full; false when stopped.
func (f *feed) push(c chunk) bool {
	if c.err == nil && len(c.recs) == 0 {
		return true
	}
	f.mu.Lock()
	for len(f.q) > 0 && f.bytes >= queueBytes {
		f.mu.Unlock()
		select {
		case <-f.space:
		case <-f.done:
			return false
		}
		f.mu.Lock()
	}
	f.q = append(f.q, c)
	f.bytes += c.bytes
	f.mu.Unlock()
	signal(f.ready)
	return true
}

// pop returns the oldest queued chunk, if any.
func (f *feed) pop() (chunk, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.q) == 0 {
		return chunk{}, false
	}
	c := f.q[0]
	f.q[0] = chunk{}
	f.q = f.q[1:]
	if len(f.q) == 0 {
		f.q = f.q[:0:0] // let the backing array go
	}
	f.bytes -= c.bytes
	if f.bytes < queueBytes {
		signal(f.space)
	}
	return c, true
}

// peek returns the record count of the oldest queued chunk (-1: none, or an error).
func (f *feed) peek() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.q) == 0 || f.q[0].err != nil {
		return -1
	}
	return len(f.q[0].recs)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
