package socket

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/braidhq/braid/connectors/sdk"
)

// maxRead bounds the records one Read returns; the worker coalesces reads.
const maxRead = 4096

var errClosed = errors.New("socket source closed")

// chunk is records a socket reader received together, and what they cost.
type chunk struct {
	recs []sdk.Record
	cost int64
}

// handed is what one Read gave the worker: the sequence of its last record
// and the bytes it holds until the log acknowledges it.
type handed struct {
	last uint64
	cost int64
}

// buffer hands records from the socket readers to Read. Every record holds
// credits (its bytes plus recordOverhead) from the moment it is received
// until the log acknowledges it, so memory is bounded by buffer.bytes
// whether the worker stops calling Read or stops acknowledging.
type buffer struct {
	credits *semaphore.Weighted
	limit   int64
	used    atomic.Int64 // credits held, for the gauge and tests
	boot    string       // tells this run's positions from an earlier run's

	notify chan struct{} // one token: pending is not empty
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	pending  []chunk // received, not yet read
	nextSeq  uint64
	inflight []handed // read, not yet acknowledged, in order
}

func newBuffer(limit int64) *buffer {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &buffer{
		credits: semaphore.NewWeighted(limit),
		limit:   limit,
		boot:    hex.EncodeToString(b[:]),
		notify:  make(chan struct{}, 1),
		closed:  make(chan struct{}),
	}
}

// acquire waits for cost credits: the TCP reader blocks here, which stops
// it reading its socket.
func (b *buffer) acquire(ctx context.Context, cost int64) error {
	if err := b.credits.Acquire(ctx, cost); err != nil {
		return err
	}
	b.used.Add(cost)
	return nil
}

// tryAcquire takes cost credits if they are free now (UDP never waits).
func (b *buffer) tryAcquire(cost int64) bool {
	if b.credits.TryAcquire(cost) {
		b.used.Add(cost)
		return true
	}
	return false
}

func (b *buffer) release(cost int64) {
	b.used.Add(-cost)
	b.credits.Release(cost)
}

// push queues records whose credits the caller acquired.
func (b *buffer) push(c chunk) {
	b.mu.Lock()
	b.pending = append(b.pending, c)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// read waits for records and hands them out with their positions.
func (b *buffer) read(ctx context.Context) ([]sdk.Record, error) {
	for {
		if out := b.take(); out != nil {
			return out, nil
		}
		select {
		case <-b.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.closed:
			return nil, errClosed
		}
	}
}

func (b *buffer) take() []sdk.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		return nil
	}
	n, k := 0, 0
	var cost int64
	for k < len(b.pending) && (k == 0 || n+len(b.pending[k].recs) <= maxRead) {
		n += len(b.pending[k].recs)
		cost += b.pending[k].cost
		k++
	}
	out := b.pending[0].recs
	if k > 1 {
		out = make([]sdk.Record, 0, n)
		for _, c := range b.pending[:k] {
			out = append(out, c.recs...)
		}
	}
	rest := copy(b.pending, b.pending[k:])
	clear(b.pending[rest:])
	b.pending = b.pending[:rest]
	if rest > 0 {
		select { // more is waiting: the next read need not wait
		case b.notify <- struct{}{}:
		default:
		}
	}
	pos := make([]byte, 0, n*(len(b.boot)+12))
	for i := range out {
		b.nextSeq++
		start := len(pos)
		pos = append(pos, b.boot...)
		pos = append(pos, '.')
		pos = strconv.AppendUint(pos, b.nextSeq, 10)
		out[i].Position = pos[start:len(pos):len(pos)]
	}
	b.inflight = append(b.inflight, handed{last: b.nextSeq, cost: cost})
	return out
}

// ack frees the credits of every read up to pos, which the log now holds.
func (b *buffer) ack(pos sdk.Position) {
	boot, s, ok := strings.Cut(string(pos), ".")
	seq, err := strconv.ParseUint(s, 10, 64)
	if !ok || err != nil || boot != b.boot {
		return // a position of an earlier run: nothing of it is held now
	}
	b.mu.Lock()
	var free int64
	n := 0
	for ; n < len(b.inflight) && b.inflight[n].last <= seq; n++ {
		free += b.inflight[n].cost
	}
	rest := copy(b.inflight, b.inflight[n:])
	b.inflight = b.inflight[:rest]
	b.mu.Unlock()
	if free > 0 {
		b.release(free)
	}
}

func (b *buffer) close() {
	b.once.Do(func() { close(b.closed) })
}

// base is what both sources share: their settings and the buffer Read
// and Ack work on.
type base struct {
	s   settings
	buf *buffer
}

// Read hands the worker the records received so far, waiting for one.
func (b *base) Read(ctx context.Context) ([]sdk.Record, error) { return b.buf.read(ctx) }

// Ack frees the buffer space of the records the log stored.
func (b *base) Ack(_ context.Context, pos sdk.Position) error {
	b.buf.ack(pos)
	return nil
}

// NotReplayable tells the worker that senders cannot be asked again.
func (b *base) NotReplayable() {}
