// Package kafkabench measures the Kafka protocol listener with a franz-go
// client beside Braid's native producer and reader on the same records, in
// one process and one run: `braid bench kafka`.
package kafkabench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/braidhq/braid/runtime/kafka"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options sizes a run.
type Options struct {
	Records    int    // records per phase (default 1,000,000)
	Size       int    // value bytes (default 128)
	Partitions int    // partitions (default 3)
	DataDir    string // embedded server data; empty: a temporary directory
	// PacedRate is the paced phase's rate: records produced one by one with
	// franz-go's default linger, each acknowledgement timed (default 10,000/s for 3 s).
	PacedRate int
}

// Result is one run; it marshals to one JSON line.
type Result struct {
	Records    int `json:"records"`
	Size       int `json:"size"`
	Partitions int `json:"partitions"`

	ProduceRPS       float64 `json:"produce_rps"` // franz-go, acks=all, idempotent, default linger
	ConsumeRPS       float64 `json:"consume_rps"` // franz-go consumer
	NativeProduceRPS float64 `json:"native_produce_rps"`
	NativeConsumeRPS float64 `json:"native_consume_rps"`
	ProduceRatio     float64 `json:"produce_ratio"`
	ConsumeRatio     float64 `json:"consume_ratio"`

	PacedRate   int     `json:"paced_rate"`
	PacedP50Ms  float64 `json:"paced_p50_ms"`
	PacedP99Ms  float64 `json:"paced_p99_ms"`
	PacedP999Ms float64 `json:"paced_p999_ms"`
	// The paced phase's produce requests, from the client's write to the
	// broker's answer read: what Kafka's producer reports as
	// request-latency, the linger excluded (which PacedP99Ms includes).
	PacedRequestP50Ms float64 `json:"paced_request_p50_ms"`
	PacedRequestP99Ms float64 `json:"paced_request_p99_ms"`
	// The same with linger 0: what the listener and the log add.
	PacedNoLingerP50Ms  float64 `json:"paced_linger0_p50_ms"`
	PacedNoLingerP99Ms  float64 `json:"paced_linger0_p99_ms"`
	PacedNoLingerP999Ms float64 `json:"paced_linger0_p999_ms"`
	CPUs                int     `json:"cpus"`
}

// JSON renders the result as one line.
func (r Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

func withDefaults(o Options) Options {
	if o.Records <= 0 {
		o.Records = 1_000_000
	}
	if o.Size <= 0 {
		o.Size = 128
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.PacedRate <= 0 {
		o.PacedRate = 10_000
	}
	return o
}

// Run runs native produce and consume, then the same through Kafka.
func Run(ctx context.Context, o Options) (Result, error) {
	o = withDefaults(o)
	res := Result{Records: o.Records, Size: o.Size, Partitions: o.Partitions, PacedRate: o.PacedRate, CPUs: runtime.GOMAXPROCS(0)}
	dir := o.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "braid-kafkabench-*")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir, Name: "braid-kafkabench"})
	if err != nil {
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	l, err := log.Open(ctx, conn, log.Options{})
	if err != nil {
		return res, err
	}
	defer l.Close()
	srv := kafka.New(l, kafka.Options{Addr: "127.0.0.1:0"})
	if err := srv.Start(ctx); err != nil {
		return res, err
	}
	defer srv.Close()
	values := payloads(o.Size)

	native := fmt.Sprintf("bench_native_%d", time.Now().UnixNano())
	if err := l.CreateTopic(ctx, native, log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return res, err
	}
	d, err := nativeProduce(ctx, l, native, o, values)
	if err != nil {
		return res, fmt.Errorf("native produce: %w", err)
	}
	res.NativeProduceRPS = rate(o.Records, d)
	if d, err = nativeConsume(ctx, l, native, o); err != nil {
		return res, fmt.Errorf("native consume: %w", err)
	}
	res.NativeConsumeRPS = rate(o.Records, d)
	// Topics are deleted at the end: removing a stream's files meanwhile
	// would compete with the next phase.
	defer l.DeleteTopic(context.WithoutCancel(ctx), native)
	settle()

	topic := fmt.Sprintf("bench_kafka_%d", time.Now().UnixNano())
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return res, err
	}
	if d, err = kafkaProduce(ctx, srv.Addr(), topic, o, values); err != nil {
		return res, fmt.Errorf("kafka produce: %w", err)
	}
	res.ProduceRPS = rate(o.Records, d)
	if d, err = kafkaConsume(ctx, srv.Addr(), topic, o); err != nil {
		return res, fmt.Errorf("kafka consume: %w", err)
	}
	res.ConsumeRPS = rate(o.Records, d)
	defer l.DeleteTopic(context.WithoutCancel(ctx), topic)
	settle()

	paced := fmt.Sprintf("bench_paced_%d", time.Now().UnixNano())
	if err := l.CreateTopic(ctx, paced, log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return res, err
	}
	var reqs requestTimes
	lat, err := kafkaPaced(ctx, srv.Addr(), paced, o, values, kgo.WithHooks(&reqs))
	if err != nil {
		return res, fmt.Errorf("kafka paced: %w", err)
	}
	res.PacedP50Ms, res.PacedP99Ms, res.PacedP999Ms = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 0.999)
	res.PacedRequestP50Ms, res.PacedRequestP99Ms = quantile(reqs.ms, 0.5), quantile(reqs.ms, 0.99)
	if lat, err = kafkaPaced(ctx, srv.Addr(), paced, o, values, kgo.ProducerLinger(0)); err != nil {
		return res, fmt.Errorf("kafka paced, linger 0: %w", err)
	}
	res.PacedNoLingerP50Ms, res.PacedNoLingerP99Ms, res.PacedNoLingerP999Ms = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 0.999)
	if res.NativeProduceRPS > 0 {
		res.ProduceRatio = res.ProduceRPS / res.NativeProduceRPS
	}
	if res.NativeConsumeRPS > 0 {
		res.ConsumeRatio = res.ConsumeRPS / res.NativeConsumeRPS
	}
	return res, nil
}

// settle returns the last phase's garbage before the next one starts.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// payloads are 64 distinct values of size bytes, reused round-robin.
func payloads(size int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, 64)
	for i := range out {
		out[i] = make([]byte, size)
		for j := range out[i] {
			out[i][j] = byte('a' + r.IntN(26))
		}
	}
	return out
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func quantile(ms []float64, q float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	slices.Sort(ms)
	return ms[min(len(ms)-1, int(float64(len(ms))*q))]
}

// batchRecords is what each native Publish carries: the size of a
// franz-go batch of these records at its 1 MB default.
const batchRecords = 4096

func nativeProduce(ctx context.Context, l *log.Log, topic string, o Options, values [][]byte) (time.Duration, error) {
	p := l.Producer(log.ProducerOptions{ID: "bench", MaxInFlight: 32})
	start := time.Now()
	for i := 0; i < o.Records; i += batchRecords {
		recs := make([]log.Record, min(batchRecords, o.Records-i))
		for j := range recs {
			recs[j] = log.Record{Partition: -1, Value: values[(i+j)%len(values)], Timestamp: time.Now()}
		}
		if _, err := p.Publish(ctx, log.Batch{Topic: topic, Records: recs}); err != nil {
			return 0, err
		}
	}
	if err := p.Close(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func nativeConsume(ctx context.Context, l *log.Log, topic string, o Options) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, o.Partitions)
	counts := make([]int, o.Partitions)
	ends := make([]int64, o.Partitions)
	for p := range int32(o.Partitions) {
		_, end, err := l.PartitionOffsets(ctx, topic, p)
		if err != nil {
			return 0, err
		}
		ends[p] = end
	}
	for p := range int32(o.Partitions) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.NewReader(ctx, topic, p, log.Earliest)
			if err != nil {
				errs[p] = err
				return
			}
			defer r.Close()
			for int64(counts[p]) < ends[p] {
				recs, err := r.Fetch(ctx, 10000, 4<<20, time.Second)
				if err != nil {
					errs[p] = err
					return
				}
				counts[p] += len(recs)
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return d, checkCount(counts, o.Records)
}

func checkCount(counts []int, want int) error {
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != want {
		return fmt.Errorf("read %d of %d records", total, want)
	}
	return nil
}

func kafkaProduce(ctx context.Context, addr, topic string, o Options, values [][]byte) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	// Connect, read metadata and get a producer id before the clock starts.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: values[0], Partition: 0}).FirstErr(); err != nil {
		return 0, err
	}
	var failed error
	var mu sync.Mutex
	start := time.Now()
	for i := range o.Records {
		cl.Produce(ctx, &kgo.Record{Value: values[i%len(values)]}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), failed
}

func kafkaConsume(ctx context.Context, addr, topic string, o Options) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(50<<20))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// The clock starts with the first records: connecting, metadata and
	// the ListOffsets of the start position are not throughput.
	var start time.Time
	n, counted := 0, 0
	for n < o.Records+1 { // +1: the warm-up record of kafkaProduce
		fs := cl.PollFetches(cctx)
		if err := cctx.Err(); err != nil {
			return 0, fmt.Errorf("read %d of %d records: %w", n, o.Records, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return 0, ferr
		}
		k := fs.NumRecords()
		n += k
		if start.IsZero() {
			if k > 0 {
				start = time.Now()
			}
			continue
		}
		counted += k
	}
	d := time.Since(start)
	if n != o.Records+1 {
		return 0, fmt.Errorf("read %d records, want %d", n, o.Records+1)
	}
	// Scale to the whole run at the measured rate.
	if counted > 0 {
		d = time.Duration(float64(d) * float64(o.Records) / float64(counted))
	}
	return d, nil
}

// requestTimes collects the round trips of a client's produce requests
// (kgo.HookBrokerE2E).
type requestTimes struct {
	mu sync.Mutex
	ms []float64
}

func (r *requestTimes) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key != 0 || e2e.WriteErr != nil || e2e.ReadErr != nil { // 0: Produce
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ms = append(r.ms, float64(e2e.DurationE2E().Microseconds())/1000)
}

// kafkaPaced produces PacedRate records/s for 3 s, timing each from Produce
// to its acknowledgement.
func kafkaPaced(ctx context.Context, addr, topic string, o Options, values [][]byte, opts ...kgo.Opt) ([]float64, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// Warm up: metadata, producer id, connections.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: values[0]}).FirstErr(); err != nil {
		return nil, err
	}
	n := o.PacedRate * 3
	lat := make([]float64, n)
	var mu sync.Mutex
	var failed error
	interval := time.Second / time.Duration(o.PacedRate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: values[i%len(values)]}, func(_ *kgo.Record, err error) {
			lat[i] = float64(time.Since(sent).Microseconds()) / 1000
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	return lat, failed
}
