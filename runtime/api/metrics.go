package api

import (
	"context"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the engine's registry plus Go and process metrics
// and the log's figures, computed at scrape time.
func (s *Server) metricsHandler() http.Handler {
	own := prometheus.NewRegistry()
	own.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&logCollector{s: s},
		buildInfo(s.opts.Version),
	)
	gatherers := prometheus.Gatherers{own}
	if s.eng.Registry != nil {
		gatherers = append(gatherers, s.eng.Registry)
	}
	return promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}, Timeout: 20 * time.Second})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.logger.Warn("metrics", "err", v) }

var (
	descTopicBytes = prometheus.NewDesc("braid_log_topic_bytes", "Bytes stored in the topic.", []string{"topic"}, nil)
	descTopicMsgs  = prometheus.NewDesc("braid_log_topic_messages", "Stored messages (record batches) in the topic.", []string{"topic"}, nil)
	descProduced   = prometheus.NewDesc("braid_log_produced_records_total",
		"Records ever appended to the partition (its end offset); rate() is the produce rate.", []string{"topic", "partition"}, nil)
	descConsumed = prometheus.NewDesc("braid_log_consumed_records_total",
		"Records the group committed on the partition (its committed offset + 1); rate() is the consume rate.",
		[]string{"group", "topic", "partition"}, nil)
	descLag = prometheus.NewDesc("braid_log_consumer_lag_records",
		"Records on the partition the group has not committed yet.", []string{"group", "topic", "partition"}, nil)
)

// buildInfo is braid_build_info, present on every worker (idle or not).
func buildInfo(version string) prometheus.Collector {
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if version == "" && bi.Main.Version != "" {
			version = bi.Main.Version
		}
	}
	if version == "" {
		version = "(devel)"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "braid_build_info", Help: "Always 1; the labels name the build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion}})
	g.Set(1)
	return g
}

// logRefresh is how old the log's figures may get: reading every topic's
// and group's state costs a round trip each, so it is done in the
// background at most this often and a scrape costs O(1).
const logRefresh = 5 * time.Second

// logCollector serves topic and group figures from a snapshot refreshed in
// the background; the first scrape waits for the first snapshot.
type logCollector struct {
	s          *Server
	mu         sync.Mutex
	snapshot   []prometheus.Metric
	taken      time.Time
	refreshing bool
	first      chan struct{} // closed once the first snapshot exists
	once       sync.Once
}

// Describe sends nothing: the collector is unchecked, its series change
// with the topics and groups.
func (c *logCollector) Describe(chan<- *prometheus.Desc) {}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	c.once.Do(func() { c.first = make(chan struct{}) })
	c.mu.Lock()
	stale := time.Since(c.taken) >= logRefresh
	if stale && !c.refreshing {
		c.refreshing = true
		go c.refresh()
	}
	c.mu.Unlock()
	select {
	case <-c.first:
	case <-time.After(10 * time.Second):
	}
	c.mu.Lock()
	snap := c.snapshot
	c.mu.Unlock()
	for _, m := range snap {
		ch <- m
	}
}

func (c *logCollector) refresh() {
	buf := make(chan prometheus.Metric, 256)
	var out []prometheus.Metric
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range buf {
			out = append(out, m)
		}
	}()
	c.collect(buf)
	close(buf)
	<-done
	c.mu.Lock()
	first := c.taken.IsZero()
	c.snapshot, c.taken, c.refreshing = out, time.Now(), false
	c.mu.Unlock()
	if first {
		close(c.first)
	}
}

func (c *logCollector) collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lg := c.s.eng.Log
	topics, err := lg.Topics(ctx)
	if err != nil {
		c.s.logger.Warn("metrics: list topics", "err", err)
		return
	}
	groups, err := lg.Groups(ctx)
	if err != nil {
		c.s.logger.Warn("metrics: list groups", "err", err)
	}
	for _, t := range topics {
		ch <- prometheus.MustNewConstMetric(descTopicBytes, prometheus.GaugeValue, float64(t.Bytes), t.Name)
		ch <- prometheus.MustNewConstMetric(descTopicMsgs, prometheus.GaugeValue, float64(t.Messages), t.Name)
		for _, p := range t.Partitions {
			ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, float64(p.EndOffset), t.Name, part(p.Partition))
		}
		for _, g := range groups {
			c.collectGroup(ctx, ch, g, t.Name)
		}
	}
}

func (c *logCollector) collectGroup(ctx context.Context, ch chan<- prometheus.Metric, group, topic string) {
	lg := c.s.eng.Log
	committed, err := lg.CommittedOffsets(ctx, group, topic)
	if err != nil || len(committed) == 0 {
		return
	}
	for p, off := range committed {
		ch <- prometheus.MustNewConstMetric(descConsumed, prometheus.CounterValue, float64(off+1), group, topic, part(p))
	}
	lag, err := lg.Lag(ctx, group, topic)
	if err != nil {
		c.s.logger.Warn("metrics: lag", "group", group, "topic", topic, "err", err)
		return
	}
	for p, n := range lag {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(n), group, topic, part(p))
	}
}

func part(p int32) string { return strconv.Itoa(int(p)) }
