package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/runtime/log"
)

// BucketLeases holds task leases and worker heartbeats; entries expire when
// their owner stops refreshing them.
const BucketLeases = "braid-leases"

// Lease timing: a lease is refreshed every leaseRefresh and lapses leaseTTL
// after its owner's last refresh (a dead worker's tasks move within that).
const (
	defaultLeaseTTL     = 10 * time.Second
	defaultLeaseRefresh = 2 * time.Second
)

// leases lets several workers share tasks: a task runs on the worker holding
// its lease. Workers heartbeat under member/<id>; one holding more than its
// fair share (tasks / live workers, rounded up) gives leases back, and one
// holding its share waits before taking a free task, so the work spreads.
type leases struct {
	kv      *log.KV
	worker  string
	ttl     time.Duration
	refresh time.Duration
	tasks   func() int // tasks this worker knows of

	held    atomic.Int64
	members atomic.Int64
	live    atomic.Pointer[map[string]bool] // live workers, from their heartbeats
	beat    atomic.Int64                    // unix nanos of the last stored heartbeat

	mu      sync.Mutex
	release map[string]chan struct{} // leases asked to give back
}

func newLeases(ctx context.Context, lg *log.Log, worker string, ttl, refresh time.Duration, tasks func() int) (*leases, error) {
	kv, err := lg.KVWithTTL(ctx, BucketLeases, ttl)
	if err != nil {
		return nil, err
	}
	l := &leases{kv: kv, worker: worker, ttl: ttl, refresh: refresh, tasks: tasks, release: map[string]chan struct{}{}}
	l.members.Store(1)
	return l, nil
}

// heartbeat keeps this worker's membership alive and counts live workers.
func (l *leases) heartbeat(ctx context.Context) {
	key := "member/" + l.worker
	tick := time.NewTicker(l.refresh)
	defer tick.Stop()
	for {
		if _, err := l.kv.Put(ctx, key, []byte(time.Now().UTC().Format(time.RFC3339))); err == nil {
			l.beat.Store(time.Now().UnixNano())
		}
		if keys, err := l.kv.Keys(ctx, "member/"); err == nil && len(keys) > 0 {
			l.members.Store(int64(len(keys)))
			set := make(map[string]bool, len(keys))
			for _, k := range keys {
				set[strings.TrimPrefix(k, "member/")] = true
			}
			l.live.Store(&set)
		}
		l.rebalance()
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = l.kv.Delete(dctx, key)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// lastBeat is when this worker's heartbeat was last stored (zero before).
func (l *leases) lastBeat() time.Time {
	if n := l.beat.Load(); n > 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// holder returns the worker holding a lease, if any.
func (l *leases) holder(ctx context.Context, key string) (string, bool) {
	e, err := l.kv.Get(ctx, key)
	if err != nil {
		return "", false
	}
	return string(e.Value), true
}

// alive reports whether a worker heartbeats (this one always does; before
// the first heartbeat every worker counts as alive).
func (l *leases) alive(id string) bool {
	if id == l.worker {
		return true
	}
	set := l.live.Load()
	return set == nil || (*set)[id]
}

// fairShare is how many tasks this worker should hold.
func (l *leases) fairShare() int64 {
	n := max(l.members.Load(), 1)
	return (int64(l.tasks()) + n - 1) / n
}

// rebalance gives back one lease when this worker holds more than its share.
func (l *leases) rebalance() {
	if l.held.Load() <= l.fairShare() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ch := range l.release {
		select {
		case <-ch:
			continue
		default:
		}
		close(ch)
		return
	}
}

// lease is one held task lease.
type lease struct {
	lost <-chan struct{} // closed when the lease is lost or given back
	stop func()          // releases the lease
}

// acquire blocks until this worker holds key's lease or ctx ends.
func (l *leases) acquire(ctx context.Context, key string) (*lease, error) {
	var freeSince time.Time
	for {
		rev, err := l.kv.Create(ctx, key, []byte(l.worker))
		switch {
		case err == nil:
			if l.held.Load() < l.fairShare() || (!freeSince.IsZero() && time.Since(freeSince) >= 2*l.refresh) {
				return l.hold(ctx, key, rev), nil
			}
			// Over our share: give the others a moment to take it.
			_ = l.kv.Delete(ctx, key)
			if freeSince.IsZero() {
				freeSince = time.Now()
			}
		case errors.Is(err, log.ErrKeyExists):
			freeSince = time.Time{}
			if e, gerr := l.kv.Get(ctx, key); gerr == nil && string(e.Value) == l.worker {
				// Ours from before a restart of this task: take it over.
				return l.hold(ctx, key, e.Revision), nil
			}
		default:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		jitter := time.Duration(rand.Int64N(int64(l.refresh / 4)))
		if err := sleep(ctx, l.refresh/2+jitter); err != nil {
			return nil, err
		}
	}
}

// hold refreshes a lease until it is lost, given back or stopped.
func (l *leases) hold(ctx context.Context, key string, rev uint64) *lease {
	l.held.Add(1)
	lost := make(chan struct{})
	giveBack := make(chan struct{})
	done := make(chan struct{})
	l.mu.Lock()
	l.release[key] = giveBack
	l.mu.Unlock()
	var once sync.Once
	finish := func() {
		once.Do(func() {
			close(done)
			l.mu.Lock()
			delete(l.release, key)
			l.mu.Unlock()
			l.held.Add(-1)
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if e, err := l.kv.Get(dctx, key); err == nil && string(e.Value) == l.worker {
				_ = l.kv.Delete(dctx, key)
			}
		})
	}
	go func() {
		defer close(lost)
		tick := time.NewTicker(l.refresh)
		defer tick.Stop()
		refreshed := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-giveBack:
				return
			case <-tick.C:
				nrev, err := l.kv.Update(ctx, key, []byte(l.worker), rev)
				switch {
				case err == nil:
					rev, refreshed = nrev, time.Now()
				case errors.Is(err, log.ErrWrongRevision):
					// Either another worker took it, or our previous refresh
					// was stored but its answer lost (a leader change): then
					// the entry still names us, at a newer revision.
					gctx, cancel := context.WithTimeout(ctx, time.Second)
					e, gerr := l.kv.Get(gctx, key)
					cancel()
					if gerr != nil || string(e.Value) != l.worker {
						return // lapsed or taken by another worker
					}
					rev, refreshed = e.Revision, time.Now()
				case errors.Is(err, log.ErrKeyNotFound):
					return // lapsed
				case time.Since(refreshed)+l.refresh >= l.ttl:
					// The bucket has not answered for nearly a TTL: another
					// worker may take the task any moment now, so stop first.
					// (Its writes are fenced anyway.)
					return
				}
				// Otherwise a passing fault (a leader election in the
				// bucket): keep the task and try again on the next tick.
			}
		}
	}()
	return &lease{lost: lost, stop: finish}
}
