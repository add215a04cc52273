package socket

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// gaugeInterval is how often the sources push their gauges to the worker.
var gaugeInterval = time.Second

// gauge is one named counter a source reports through sdk.Env.SetGauge.
type gauge struct {
	name string
	v    *atomic.Int64
}

// reportGauges pushes the gauges every gaugeInterval until ctx ends, and
// once more then, so the last values are not lost.
func (s *settings) reportGauges(ctx context.Context, gauges []gauge) {
	push := func() {
		for _, g := range gauges {
			s.env.SetGauge(g.name, float64(g.v.Load()))
		}
	}
	t := time.NewTicker(gaugeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			push()
			return
		case <-t.C:
			push()
		}
	}
}

// limiter lets a warning through at most once per interval, so a flood
// of bad frames or refused connections cannot flood the log; it counts
// what it held back.
type limiter struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

const warnEvery = 10 * time.Second

// allow reports whether to log now and how many were held back since.
func (l *limiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.last) >= warnEvery {
		n := l.skipped
		l.last, l.skipped = now, 0
		return true, n
	}
	l.skipped++
	return false, 0
}
