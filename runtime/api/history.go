package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/worker"
)

// The worker keeps the last 15 minutes of each connector's throughput and
// (sinks) lag in memory, sampled from its own metrics, for the console's
// charts: GET /connectors/{name}/history.

const (
	defaultHistoryEvery = 10 * time.Second
	historyWindow       = 15 * time.Minute
	// maxHistoryPoints bounds the points kept per connector whatever the interval.
	maxHistoryPoints = 900
)

// HistoryPoint is one sample: records written per second since the last
// sample (sources: to the log; sinks: to their system) and a sink's lag.
type HistoryPoint struct {
	Time          time.Time `json:"time"`
	RecordsPerSec float64   `json:"records_per_second"`
	Lag           *int64    `json:"lag,omitempty"`
}

// History is GET /connectors/{name}/history.
type History struct {
	Name     string         `json:"name"`
	Interval string         `json:"interval"`
	Points   []HistoryPoint `json:"points"`
}

type history struct {
	every  time.Duration
	mu     sync.Mutex
	last   map[string]float64 // records_out counter at the last sample
	lastAt time.Time
	points map[string][]HistoryPoint
}

func newHistory(every time.Duration) *history {
	if every <= 0 {
		every = defaultHistoryEvery
	}
	return &history{every: every, last: map[string]float64{}, points: map[string][]HistoryPoint{}}
}

func (h *history) capacity() int {
	return min(maxHistoryPoints, max(1, int(historyWindow/h.every)))
}

// recordHistory samples until ctx ends or the server stops.
func (s *Server) recordHistory(ctx context.Context) {
	s.every(ctx, s.hist.every, func() { s.sampleHistory(ctx, time.Now()) })
}

// recordsOut reads every connector's records_out counter from the
// engine's metrics registry.
func (s *Server) recordsOut() map[string]float64 {
	out := map[string]float64{}
	if s.eng.Registry == nil {
		return out
	}
	families, err := s.eng.Registry.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != "braid_connector_records_out_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "connector" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func (s *Server) sampleHistory(ctx context.Context, now time.Time) {
	counters := s.recordsOut()
	names := s.eng.Worker.Names()
	lags := map[string]*int64{}
	for _, n := range names {
		cfg, err := s.eng.Worker.Config(n)
		if err != nil || cfg.Kind != sdk.KindSink {
			continue
		}
		if lag, ok := s.sinkLag(ctx, cfg); ok {
			lags[n] = &lag
		}
	}
	h := s.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	dt := now.Sub(h.lastAt).Seconds()
	live := map[string]bool{}
	for _, n := range names {
		live[n] = true
		p := HistoryPoint{Time: now.UTC(), Lag: lags[n]}
		if prev, ok := h.last[n]; ok && dt > 0 && counters[n] >= prev {
			p.RecordsPerSec = (counters[n] - prev) / dt
		}
		pts := append(h.points[n], p)
		if c := h.capacity(); len(pts) > c {
			pts = append(pts[:0:0], pts[len(pts)-c:]...)
		}
		h.points[n] = pts
		h.last[n] = counters[n]
	}
	for n := range h.points { // deleted connectors
		if !live[n] {
			delete(h.points, n)
			delete(h.last, n)
		}
	}
	h.lastAt = now
}

// sinkLag sums a sink group's lag over its topics.
func (s *Server) sinkLag(ctx context.Context, cfg worker.ConnectorConfig) (int64, bool) {
	group := fmt.Sprint(toFlat(cfg, s.plugins())[keyGroup])
	var total int64
	found := false
	for _, t := range cfg.Topics {
		lag, err := s.eng.Log.Lag(ctx, group, t)
		if err != nil {
			continue
		}
		found = true
		for _, n := range lag {
			total += n
		}
	}
	return total, found
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.eng.Worker.Config(name); err != nil {
		s.fail(w, err, nil)
		return
	}
	s.hist.mu.Lock()
	pts := append([]HistoryPoint{}, s.hist.points[name]...)
	s.hist.mu.Unlock()
	writeJSON(w, http.StatusOK, History{Name: name, Interval: s.hist.every.String(), Points: pts})
}
