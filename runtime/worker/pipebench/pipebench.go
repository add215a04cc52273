// Package pipebench measures Braid end to end: a file source → the log → a
// file sink in one process, beside the log-only baseline of the same run.
//
// It runs three phases on a temporary data dir:
//  1. throughput: N lines of B bytes, read, published, consumed and durably
//     written; rps is first record read to last record flushed and committed;
//  2. paced latency: lines appended at a fixed rate to a followed file; per-record
//     latency is source read → sink write, reported as p50/p99;
//  3. baseline: the same N records produced to and consumed from the log
//     concurrently through runtime/log alone.
package pipebench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/worker"
	"github.com/braidhq/braid/schema/convert"
)

// Options configures a run.
type Options struct {
	Records    int    // throughput phase records (default 1,000,000)
	Size       int    // bytes per record (default 256)
	Partitions int    // topic partitions (default 1)
	DataDir    string // default: a temporary directory, removed afterwards
	Rate       int    // paced phase records/s (default 10,000; 0 with Paced 0 skips)
	Paced      int    // paced phase records (0 skips the phase)
}

// Result is one JSON line.
type Result struct {
	Records        int     `json:"records"`
	Size           int     `json:"size"`
	Partitions     int     `json:"partitions"`
	RPS            float64 `json:"rps"`
	Seconds        float64 `json:"seconds"`
	LoadP50ms      float64 `json:"load_p50_ms"`
	LoadP99ms      float64 `json:"load_p99_ms"`
	PacedRate      int     `json:"paced_rate"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	BaselineRPS    float64 `json:"baseline_rps"`
	Ratio          float64 `json:"ratio"`
	BaselinePeakMB float64 `json:"baseline_peak_rss_mib"`
}

func (o *Options) defaults() {
	if o.Records <= 0 {
		o.Records = 1_000_000
	}
	if o.Size <= 0 {
		o.Size = 256
	}
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	if o.Rate == 0 {
		o.Rate = 10_000
	}
}

// Run runs the three phases.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	res := Result{Records: o.Records, Size: o.Size, Partitions: o.Partitions, PacedRate: o.Rate}
	dir := o.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "braid-bench-pipeline-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	convert.Builtin()
	in := filepath.Join(dir, "input.txt")
	if err := writeInput(in, o.Records, o.Size); err != nil {
		return res, err
	}
	rig, err := newRig(ctx, filepath.Join(dir, "pipeline"))
	if err != nil {
		return res, err
	}
	resetPeakRSS()
	lat, secs, err := rig.throughput(ctx, in, filepath.Join(dir, "out"), o)
	res.PeakRSSMiB = peakRSSMiB()
	if err == nil && o.Paced > 0 {
		var paced []time.Duration
		paced, err = rig.paced(ctx, filepath.Join(dir, "paced.txt"), filepath.Join(dir, "paced-out"), o)
		res.P50ms, res.P99ms = pct(paced, 50), pct(paced, 99)
	}
	rig.close()
	if err != nil {
		return res, err
	}
	res.Seconds = secs
	res.RPS = float64(o.Records) / secs
	res.LoadP50ms, res.LoadP99ms = pct(lat, 50), pct(lat, 99)

	resetPeakRSS()
	base, err := baseline(ctx, filepath.Join(dir, "baseline"), o)
	if err != nil {
		return res, err
	}
	res.BaselinePeakMB = peakRSSMiB()
	res.BaselineRPS = base
	res.Ratio = res.RPS / base
	return res, nil
}

func writeInput(path string, n, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	line := make([]byte, size)
	for i := range line {
		line[i] = 'a' + byte(i%26)
	}
	line[size-1] = '\n'
	for i := 0; i < n; i++ {
		copy(line, fmt.Sprintf("%010d", i))
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return w.Flush()
}

// rig is an embedded server, a log and a worker whose file sink records latencies.
type rig struct {
	conn *natsd.Conn
	log  *log.Log
	w    *worker.Worker
	lat  *latencies
}

// latencies keeps one record's latency in every `every` (the throughput
// phase samples, so the harness does not hold a million durations in memory)
// and counts them all.
type latencies struct {
	mu    sync.Mutex
	every int
	n     int
	d     []time.Duration
}

func (l *latencies) sample(every int) {
	l.mu.Lock()
	l.every = every
	l.mu.Unlock()
}

func (l *latencies) take() ([]time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, n := l.d, l.n
	l.d, l.n = nil, 0
	return out, n
}

// timedSink wraps the file sink to record source read → sink write per record.
type timedSink struct {
	sdk.Sink
	lat *latencies
}

func (s timedSink) Write(ctx context.Context, recs []sdk.Record) error {
	now := time.Now()
	s.lat.mu.Lock()
	for i := range recs {
		if s.lat.n%max(s.lat.every, 1) == 0 {
			s.lat.d = append(s.lat.d, now.Sub(recs[i].Timestamp))
		}
		s.lat.n++
	}
	s.lat.mu.Unlock()
	return s.Sink.Write(ctx, recs)
}

func (s timedSink) WrittenOffsets(ctx context.Context, parts []sdk.TopicPartition) (map[sdk.TopicPartition]int64, error) {
	return s.Sink.(sdk.OffsetTracker).WrittenOffsets(ctx, parts)
}

func newRig(ctx context.Context, dir string) (*rig, error) {
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		return nil, err
	}
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		return nil, err
	}
	lat := &latencies{}
	sinkPlugin := file.SinkPlugin()
	newSink := sinkPlugin.NewSink
	sinkPlugin.NewSink = func(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
		s, err := newSink(cfg, env)
		if err != nil {
			return nil, err
		}
		return timedSink{Sink: s, lat: lat}, nil
	}
	w, err := worker.New(ctx, worker.Options{Log: lg, Plugins: sdk.Plugins{file.SourcePlugin(), sinkPlugin}, DataDir: dir})
	if err != nil {
		return nil, err
	}
	return &rig{conn: conn, log: lg, w: w, lat: lat}, nil
}

func (r *rig) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = r.w.Close(ctx)
	_ = r.log.Close()
	_ = r.conn.Close(ctx)
}

func (r *rig) run(ctx context.Context, name string, o Options, src map[string]any, out string) error {
	topic := name
	if err := r.log.CreateTopic(ctx, topic, log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return err
	}
	cfgs := []worker.ConnectorConfig{
		{Name: name + "-sink", Kind: sdk.KindSink, Plugin: "file", Topics: []string{topic}, Converter: worker.ConverterConfig{Type: "bytes"},
			Config: map[string]any{"path": out, "format": "raw"}},
		{Name: name + "-source", Kind: sdk.KindSource, Plugin: "file", Topic: topic, Converter: worker.ConverterConfig{Type: "bytes"}, Config: src},
	}
	for _, c := range cfgs {
		if err := r.w.Put(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (r *rig) throughput(ctx context.Context, in, out string, o Options) ([]time.Duration, float64, error) {
	r.lat.sample(16)
	start := time.Now()
	if err := r.run(ctx, "bench", o, map[string]any{"path": in, "format": "lines", "batch.size": 4096}, out); err != nil {
		return nil, 0, err
	}
	if err := r.w.WaitIdle(ctx); err != nil {
		return nil, 0, err
	}
	secs := time.Since(start).Seconds()
	lat, n := r.lat.take()
	if n != o.Records {
		return nil, 0, fmt.Errorf("sink saw %d records, want %d", n, o.Records)
	}
	return lat, secs, nil
}

// paced appends lines at o.Rate to a followed file.
func (r *rig) paced(ctx context.Context, in, out string, o Options) ([]time.Duration, error) {
	r.lat.sample(1)
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		return nil, err
	}
	src := map[string]any{"path": in, "format": "lines", "follow": true, "poll.interval": "1ms"}
	if err := r.run(ctx, "paced", o, src, out); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(in, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line := []byte(strings.Repeat("p", o.Size-1) + "\n")
	const tick = time.Millisecond
	perTick := float64(o.Rate) * tick.Seconds()
	start := time.Now()
	sent := 0
	var buf []byte
	for sent < o.Paced {
		due := min(o.Paced, int(float64(time.Since(start))/float64(tick)*perTick)+1)
		buf = buf[:0]
		for ; sent < due; sent++ {
			copy(line, strconv.Itoa(sent))
			buf = append(buf, line...)
		}
		if len(buf) > 0 {
			if _, err := f.Write(buf); err != nil {
				return nil, err
			}
		}
		time.Sleep(tick)
	}
	deadline := time.Now().Add(30 * time.Second)
	var all []time.Duration
	for len(all) < o.Paced && time.Now().Before(deadline) {
		got, _ := r.lat.take()
		all = append(all, got...)
		time.Sleep(10 * time.Millisecond)
	}
	if len(all) < o.Paced {
		return nil, fmt.Errorf("paced phase: sink saw %d of %d records", len(all), o.Paced)
	}
	return all, nil
}

// baseline produces and consumes the same records through the log alone,
// concurrently, and returns records/s.
func baseline(ctx context.Context, dir string, o Options) (float64, error) {
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		return 0, err
	}
	defer lg.Close()
	if err := lg.CreateTopic(ctx, "baseline", log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return 0, err
	}
	payload := make([]byte, o.Size)
	const batch = 4096
	start := time.Now()
	errCh := make(chan error, 1)
	go func() {
		p := lg.Producer(log.ProducerOptions{ID: "baseline"})
		defer p.Close(ctx)
		recs := make([]log.Record, 0, batch)
		for i := 0; i < o.Records; i++ {
			recs = append(recs, log.Record{Value: payload, Partition: int32(i % o.Partitions), Timestamp: time.Now()})
			if len(recs) == batch || i == o.Records-1 {
				if _, err := p.Publish(ctx, log.Batch{Topic: "baseline", Records: recs}); err != nil {
					errCh <- err
					return
				}
				recs = make([]log.Record, 0, batch)
			}
		}
		errCh <- p.Flush(ctx)
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	var ferr error
	for part := 0; part < o.Partitions; part++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := lg.NewReader(ctx, "baseline", int32(part), log.Earliest)
			if err != nil {
				mu.Lock()
				ferr = err
				mu.Unlock()
				return
			}
			defer r.Close()
			want := o.Records / o.Partitions
			if part < o.Records%o.Partitions {
				want++
			}
			for n := 0; n < want; {
				recs, err := r.Fetch(ctx, batch, 4<<20, 100*time.Millisecond)
				if err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
					return
				}
				n += len(recs)
			}
			mu.Lock()
			got += want
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := <-errCh; err != nil {
		return 0, err
	}
	if ferr != nil {
		return 0, ferr
	}
	return float64(got) / time.Since(start).Seconds(), nil
}

func pct(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	i = max(0, min(i-1, len(s)-1))
	return float64(s[i].Microseconds()) / 1000
}

// resetPeakRSS resets the kernel's peak-RSS counter (Linux: write 5 to clear_refs).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMiB reads VmHWM, the peak resident set since the last reset.
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
