package worker

import (
	"unsafe"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/braidhq/braid/connectors/sdk"

	"golang.org/x/sync/semaphore"
)

// Bounds of one published source batch made of several reads.
const (
	coalesceRecords = 32 << 10
	coalesceBytes   = 2 << 20
)

type readResult struct {
	recs []sdk.Record
	err  error // a final error: the end of input, a failure, or ctx's
	held int64 // bytes of the read-ahead budget it holds until written
}

// readAheadBytes bounds the memory of the reads a source task holds while
// it writes: what Read returned (records, their bytes and positions) waits
// in the queue only while the queued reads' footprint is under it. A read
// larger than the whole budget still passes, alone.
const readAheadBytes = 8 << 20

// recordOverhead is what a record costs besides its bytes: the struct, and
// a share of its slice.
const recordOverhead = int64(unsafe.Sizeof(sdk.Record{}))

// footprint is about how much memory recs hold.
func footprint(recs []sdk.Record) int64 {
	n := int64(len(recs)) * recordOverhead
	for i := range recs {
		r := &recs[i]
		n += int64(len(r.Value) + len(r.Key) + len(r.Position) + fieldBytes*(len(r.Fields)+len(r.Before)))
		for _, h := range r.Headers {
			n += int64(len(h.Key) + len(h.Value) + 32)
		}
	}
	return n
}

// fieldBytes is what a structured field is counted as before conversion
// (a map entry, its name and a value): records of a CDC source carry
// Fields and no Value, and must not coalesce without bound.
const fieldBytes = 64

// recordBytes estimates the memory of recs for the coalescing bound.
func recordBytes(recs []sdk.Record) int {
	n := 0
	for i := range recs {
		r := &recs[i]
		n += len(r.Value) + len(r.Key) + fieldBytes*(len(r.Fields)+len(r.Before))
	}
	return n
}

// reader calls Read in a loop, retrying and backing off by the connector's
// policy, and hands non-empty batches and the final error to readLoop.
func (c *connector) reader(ctx context.Context, t *task, src sdk.Source, out chan<- readResult, budget *semaphore.Weighted) {
	send := func(r readResult) bool {
		if len(r.recs) > 0 {
			r.held = min(footprint(r.recs), readAheadBytes)
			if budget.Acquire(ctx, r.held) != nil {
				return false
			}
		}
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			budget.Release(r.held)
			return false
		}
	}
	idle, retries := 0, 0
	var wait *sdk.BackoffError
	for {
		if err := c.waitUnpaused(ctx); err != nil {
			send(readResult{err: err})
			return
		}
		recs, rerr := src.Read(ctx)
		if ctx.Err() != nil {
			send(readResult{err: ctx.Err()})
			return
		}
		switch {
		case rerr == nil, errors.Is(rerr, sdk.ErrEndOfInput):
			idle, retries = 0, 0
			if len(recs) > 0 || rerr != nil {
				if !send(readResult{recs: recs, err: rerr}) || rerr != nil {
					return
				}
			}
		case errors.As(rerr, &wait):
			// The source's system asked for a pause (429/503 with Retry-After):
			// not a failure, so it neither counts as a retry nor fails the task.
			idle, retries = 0, 0
			d := min(max(wait.Wait, time.Millisecond), maxSourceBackoff)
			c.w.logger.Info("source asked to back off", "connector", c.cfg.Name, "task", t.id, "wait", d, "err", wait.Err)
			if err := sleep(ctx, d); err != nil {
				send(readResult{err: err})
				return
			}
		case errors.Is(rerr, sdk.ErrBackoff):
			idle++
			if err := sleep(ctx, backoff(time.Millisecond, 200*time.Millisecond, idle)); err != nil {
				send(readResult{err: err})
				return
			}
		case sdk.IsRetryable(rerr) && retries < c.cfg.Errors.retries():
			wait := backoff(c.cfg.Errors.RetryBackoff, c.cfg.Errors.RetryMaxBackoff, retries)
			retries++
			c.w.metrics.Errors.WithLabelValues(c.cfg.Name, "read").Inc()
			c.w.logger.Warn("source read failed; retrying", "connector", c.cfg.Name, "task", t.id, "err", rerr, "retry_in", wait)
			if err := sleep(ctx, wait); err != nil {
				send(readResult{err: err})
				return
			}
		default:
			send(readResult{recs: recs, err: fmt.Errorf("read: %w", rerr)})
			return
		}
	}
}

// maxSourceBackoff bounds how long a source's BackoffError may pause it.
const maxSourceBackoff = 10 * time.Minute

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
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
