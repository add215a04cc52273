// Package logbench measures Braid's log against plain JetStream in the same
// process: the same payloads are produced and consumed once one record per
// message with nats.go's own async publish and pull consumer (the baseline),
// then through Braid's batched log. Only the ratios measured side by side
// mean much on a shared machine.
package logbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
)

// Options sizes a run.
type Options struct {
	Records    int    // records per phase (default 1,000,000)
	Size       int    // value bytes per record (default 128)
	Partitions int    // partitions (default 3)
	DataDir    string // embedded server data; empty: a temporary directory, removed afterwards
	// Producers > 1 adds a phase with that many concurrent producers, each
	// on its own log handle (they contend for the same partitions as
	// separate processes would), beside the single producer's phase.
	Producers int
	// PacedRate is the rate of the paced phase: single records published
	// one by one, each acknowledgement timed (default 10,000/s for 2 s).
	PacedRate int
}

// Result is one run; it marshals to one JSON line.
type Result struct {
	Records    int `json:"records"`
	Size       int `json:"size"`
	Partitions int `json:"partitions"`

	ProduceRPS         float64 `json:"produce_rps"`
	ConsumeRPS         float64 `json:"consume_rps"`
	BaselineProduceRPS float64 `json:"baseline_produce_rps"`
	BaselineConsumeRPS float64 `json:"baseline_consume_rps"`
	ProduceRatio       float64 `json:"produce_ratio"`
	ConsumeRatio       float64 `json:"consume_ratio"`

	// PeakRSSMiB is the highest VmHWM of the Braid phases; the baseline's is
	// separate. VmHWM is reset between phases through /proc/self/clear_refs.
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	ProducePeakRSSMiB  float64 `json:"produce_peak_rss_mib"`
	ConsumePeakRSSMiB  float64 `json:"consume_peak_rss_mib"`
	BaselinePeakRSSMiB float64 `json:"baseline_peak_rss_mib"`
	RSSResetWorked     bool    `json:"rss_reset_worked"`

	// MultiProduceRPS is the rate of Producers concurrent producers into the
	// same partitions; MultiProduceRatio = MultiProduceRPS / ProduceRPS.
	Producers         int     `json:"producers,omitempty"`
	MultiProduceRPS   float64 `json:"multi_produce_rps,omitempty"`
	MultiProduceRatio float64 `json:"multi_produce_ratio,omitempty"`
	// Paced publishing: acknowledgement latency of single records.
	PacedRate  int     `json:"paced_rate"`
	PacedP50Ms float64 `json:"paced_ack_p50_ms"`
	PacedP99Ms float64 `json:"paced_ack_p99_ms"`

	StoredBytes         uint64 `json:"stored_bytes"`
	BaselineStoredBytes uint64 `json:"baseline_stored_bytes"`
	CPUs                int    `json:"cpus"`
}

// JSON renders the result as one line.
func (r Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Run runs the baseline and then Braid's log, in one process.
func Run(ctx context.Context, o Options) (Result, error) {
	o = withDefaults(o)
	res := Result{Records: o.Records, Size: o.Size, Partitions: o.Partitions, CPUs: runtime.GOMAXPROCS(0)}
	dir := o.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "braid-logbench-*")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir, Name: "braid-bench"})
	if err != nil {
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	gen := newPayloads(o.Size)

	res.RSSResetWorked = resetPeakRSS()
	if err := runBaseline(ctx, conn, o, gen, &res); err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	res.BaselinePeakRSSMiB = peakRSSMiB()

	if err := runBraid(ctx, conn, o, gen, &res); err != nil {
		return res, fmt.Errorf("braid log: %w", err)
	}
	res.PeakRSSMiB = max(res.ProducePeakRSSMiB, res.ConsumePeakRSSMiB)
	if !res.RSSResetWorked {
		res.PeakRSSMiB = max(res.PeakRSSMiB, res.BaselinePeakRSSMiB)
	}
	if res.BaselineProduceRPS > 0 {
		res.ProduceRatio = res.ProduceRPS / res.BaselineProduceRPS
	}
	if res.BaselineConsumeRPS > 0 {
		res.ConsumeRatio = res.ConsumeRPS / res.BaselineConsumeRPS
	}
	return res, nil
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
	if o.Producers <= 0 {
		o.Producers = 1
	}
	if o.PacedRate <= 0 {
		o.PacedRate = 10_000
	}
	return o
}

// settle returns freed memory to the OS so the next phase's peak is its own.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func runBaseline(ctx context.Context, conn *natsd.Conn, o Options, gen *payloads, res *Result) error {
	js, err := jetstream.New(conn.NC)
	if err != nil {
		return err
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "bench_baseline", Subjects: []string{"bench.baseline.*"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), "bench_baseline") }()
	subjects := make([]string, o.Partitions)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("bench.baseline.%d", i)
	}
	start := time.Now()
	for i := 0; i < o.Records; i++ {
		if _, err := js.PublishAsync(subjects[i%o.Partitions], gen.next(i), jetstream.WithStallWait(time.Minute)); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	res.BaselineProduceRPS = rate(o.Records, time.Since(start))
	if info, err := stream.Info(ctx); err == nil {
		res.BaselineStoredBytes = info.State.Bytes
		if info.State.Msgs != uint64(o.Records) {
			return fmt.Errorf("stored %d of %d messages", info.State.Msgs, o.Records)
		}
	}

	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	start = time.Now()
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for n := 0; n < o.Records; n++ {
		m, err := it.Next()
		if err != nil {
			return fmt.Errorf("consume %d: %w", n, err)
		}
		_ = m.Data()
	}
	res.BaselineConsumeRPS = rate(o.Records, time.Since(start))
	return nil
}

func runBraid(ctx context.Context, conn *natsd.Conn, o Options, gen *payloads, res *Result) error {
	l, err := log.Open(ctx, conn, log.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	const topic = "bench_braid"
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return err
	}
	defer func() { _ = l.DeleteTopic(context.WithoutCancel(ctx), topic) }()

	settle()
	if beforePhase != nil {
		beforePhase("produce")
	}
	d, err := produce(ctx, l, topic, o, gen)
	if err != nil {
		return err
	}
	res.ProduceRPS = rate(o.Records, d)
	res.ProducePeakRSSMiB = peakRSSMiB()
	if afterPhase != nil {
		afterPhase("produce")
	}
	ti, err := l.Topic(ctx, topic)
	if err != nil {
		return err
	}
	res.StoredBytes = ti.Bytes

	settle()
	if beforePhase != nil {
		beforePhase("consume")
	}
	d, err = consume(ctx, l, topic, o, gen)
	if err != nil {
		return err
	}
	res.ConsumeRPS = rate(o.Records, d)
	res.ConsumePeakRSSMiB = peakRSSMiB()
	if afterPhase != nil {
		afterPhase("consume")
	}
	if o.Producers > 1 {
		settle()
		d, err := produceConcurrently(ctx, conn, o, gen)
		if err != nil {
			return fmt.Errorf("%d producers: %w", o.Producers, err)
		}
		res.Producers, res.MultiProduceRPS = o.Producers, rate(o.Records, d)
		if res.ProduceRPS > 0 {
			res.MultiProduceRatio = res.MultiProduceRPS / res.ProduceRPS
		}
	}
	settle()
	res.PacedRate = o.PacedRate
	if res.PacedP50Ms, res.PacedP99Ms, err = paced(ctx, l, o); err != nil {
		return fmt.Errorf("paced: %w", err)
	}
	return nil
}

// afterPhase, when set (by tests), runs at the end of a phase.
var afterPhase, beforePhase func(phase string)

// produceConcurrently publishes o.Records into a new topic from o.Producers
// producers at once, each on its own log handle, and checks the partitions
// hold exactly o.Records offsets.
func produceConcurrently(ctx context.Context, conn *natsd.Conn, o Options, gen *payloads) (time.Duration, error) {
	const topic = "bench_braid_multi"
	logs := make([]*log.Log, o.Producers)
	for i := range logs {
		l, err := log.Open(ctx, conn, log.Options{})
		if err != nil {
			return 0, err
		}
		defer l.Close()
		logs[i] = l
	}
	if err := logs[0].CreateTopic(ctx, topic, log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return 0, err
	}
	defer func() { _ = logs[0].DeleteTopic(context.WithoutCancel(ctx), topic) }()
	share := o.Records / o.Producers
	errs := make(chan error, o.Producers)
	start := time.Now()
	for i, l := range logs {
		n := share
		if i == o.Producers-1 {
			n = o.Records - share*(o.Producers-1)
		}
		own := gen.fork(uint64(i)) // a generator is not safe for concurrent use
		go func() {
			_, err := produce(ctx, l, topic, Options{Records: n, Partitions: o.Partitions}, own)
			errs <- err
		}()
	}
	var all []error
	for range logs {
		all = append(all, <-errs)
	}
	d := time.Since(start)
	if err := errors.Join(all...); err != nil {
		return 0, err
	}
	ti, err := logs[0].Topic(ctx, topic)
	if err != nil {
		return 0, err
	}
	var end int64
	for _, p := range ti.Partitions {
		end += p.EndOffset
	}
	if end != int64(o.Records) {
		return 0, fmt.Errorf("%d producers stored %d offsets for %d records", o.Producers, end, o.Records)
	}
	return d, nil
}

// paced publishes single records at o.PacedRate for two seconds, one
// Publish each, and returns the p50 and p99 of publish → acknowledgement.
func paced(ctx context.Context, l *log.Log, o Options) (p50, p99 float64, err error) {
	const topic = "bench_braid_paced"
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: o.Partitions}); err != nil {
		return 0, 0, err
	}
	defer func() { _ = l.DeleteTopic(context.WithoutCancel(ctx), topic) }()
	p := l.Producer(log.ProducerOptions{ID: "bench-paced"})
	defer p.Close(ctx)
	n := 2 * o.PacedRate
	lat := make([]time.Duration, 0, n)
	done := make(chan time.Duration, n)
	interval := time.Second / time.Duration(o.PacedRate)
	start := time.Now()
	value := make([]byte, 128)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // pacing
		}
		sent := time.Now()
		pend, err := p.Publish(ctx, log.Batch{Topic: topic, Records: []log.Record{{Partition: -1, Value: value}}})
		if err != nil {
			return 0, 0, err
		}
		go func() {
			if _, err := pend.Wait(ctx); err == nil {
				done <- time.Since(sent)
			} else {
				done <- -1
			}
		}()
	}
	for range n {
		d := <-done
		if d < 0 {
			return 0, 0, errors.New("a paced record was not stored")
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), nil
}

// batchRecords is how many records each Publish carries.
const batchRecords = 8192

func produce(ctx context.Context, l *log.Log, topic string, o Options, gen *payloads) (time.Duration, error) {
	p := l.Producer(log.ProducerOptions{ID: "bench", MaxInFlight: 32})
	start := time.Now()
	for i := 0; i < o.Records; i += batchRecords {
		n := min(batchRecords, o.Records-i)
		recs := make([]log.Record, n)
		for j := range recs {
			recs[j] = log.Record{Partition: -1, Value: gen.next(i + j)}
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

func consume(ctx context.Context, l *log.Log, topic string, o Options, gen *payloads) (time.Duration, error) {
	type result struct {
		n   int
		err error
	}
	results := make(chan result, o.Partitions)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for p := range int32(o.Partitions) {
		go func() {
			n, err := consumePartition(cctx, l, topic, p, o.Records/o.Partitions+boolInt(int(p) < o.Records%o.Partitions))
			results <- result{n, err}
		}()
	}
	total := 0
	var errs []error
	for range o.Partitions {
		r := <-results
		total += r.n
		errs = append(errs, r.err)
	}
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	if total != o.Records {
		return 0, fmt.Errorf("consumed %d of %d records", total, o.Records)
	}
	return d, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func consumePartition(ctx context.Context, l *log.Log, topic string, p int32, want int) (int, error) {
	r, err := l.NewReader(ctx, topic, p, log.Earliest)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for n < want {
		recs, err := r.Fetch(ctx, 10000, 4<<20, time.Second)
		if err != nil {
			return n, err
		}
		if len(recs) == 0 && ctx.Err() != nil {
			return n, ctx.Err()
		}
		n += len(recs)
	}
	return n, nil
}
