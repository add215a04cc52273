package httpbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	braidhttp "github.com/braidhq/braid/connectors/http"
	"github.com/braidhq/braid/connectors/sdk"
)

// Options of one run.
type Options struct {
	Records     int // total records to send
	BatchSize   int // records per request (default 100)
	Concurrency int // concurrent clients (default 8)
	// Deliver, when set, receives each batch between Read and Ack (point it at
	// the real log to include the produce); nil acks straight away.
	Deliver func(ctx context.Context, records []sdk.Record) error
	// DeliverAsync, when set instead, starts delivering a batch and returns a
	// wait for its completion; batches are acked in order as they complete,
	// so reading goes on while earlier batches are stored, as in the worker.
	DeliverAsync func(ctx context.Context, records []sdk.Record) (wait func() error, err error)
	// URL, when set, is a webhook served elsewhere (a worker running the
	// http-webhook source into the log); the bench only posts to it and
	// counts the records of accepted requests.
	URL string
}

// Result of one run.
type Result struct {
	Records   int64   `json:"records"`
	Requests  int64   `json:"requests"`
	Rejected  int64   `json:"rejected"` // 429/503 answers, retried
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"` // records per second
	P50Millis float64 `json:"p50_ms"`
	P99Millis float64 `json:"p99_ms"`
	// BaselineRPS is the same load against a bare net/http handler in the
	// same process; Ratio = RPS / BaselineRPS.
	BaselineRPS float64 `json:"baseline_rps"`
	Ratio       float64 `json:"ratio"`
}

// Webhook runs the benchmark.
func Webhook(ctx context.Context, o Options) (Result, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Records <= 0 {
		return Result{}, errors.New("httpbench: Records must be positive")
	}
	body := batchBody(o.BatchSize)
	if o.URL != "" {
		run, err := load(ctx, o.URL, o, body)
		if err != nil {
			return Result{}, err
		}
		return finish(ctx, o, body, run, int64(len(run.lat)*o.BatchSize))
	}
	src, err := openSource(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = src.Close(cctx)
	}()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var read atomic.Int64
	readErr := make(chan error, 1)
	go func() {
		if o.DeliverAsync != nil {
			readErr <- drainAsync(rctx, src, o.DeliverAsync, &read)
			return
		}
		readErr <- drain(rctx, src, o.Deliver, &read)
	}()

	run, err := load(rctx, "http://"+src.Addr()+"/", o, body)
	cancel()
	if rerr := <-readErr; rerr != nil && !errors.Is(rerr, context.Canceled) {
		return Result{}, rerr
	}
	if err != nil {
		return Result{}, err
	}
	return finish(ctx, o, body, run, read.Load())
}

// finish runs the baseline and puts the figures together.
func finish(ctx context.Context, o Options, body []byte, run loadRun, n int64) (Result, error) {
	base, err := baseline(ctx, o, body)
	if err != nil {
		return Result{}, fmt.Errorf("baseline: %w", err)
	}
	res := Result{
		Records:     n,
		Requests:    int64(len(run.lat)),
		Rejected:    run.rejected,
		Seconds:     run.elapsed.Seconds(),
		RPS:         float64(n) / run.elapsed.Seconds(),
		P50Millis:   ms(run.lat[len(run.lat)/2]),
		P99Millis:   ms(run.lat[(len(run.lat)*99)/100]),
		BaselineRPS: float64(o.Records) / base.elapsed.Seconds(),
	}
	res.Ratio = res.RPS / res.BaselineRPS
	return res, nil
}

type loadRun struct {
	lat      []time.Duration // sorted
	rejected int64
	elapsed  time.Duration
}

// load posts ceil(Records/BatchSize) requests from Concurrency clients.
func load(ctx context.Context, url string, o Options, body []byte) (loadRun, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	requests := (o.Records + o.BatchSize - 1) / o.BatchSize
	var next, rejected atomic.Int64
	lat := make([][]time.Duration, o.Concurrency)
	errs := make([]error, o.Concurrency)
	tr := &nethttp.Transport{MaxIdleConnsPerHost: o.Concurrency}
	defer tr.CloseIdleConnections()
	client := &nethttp.Client{Transport: tr}
	start := time.Now()
	var wg sync.WaitGroup
	for c := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(requests) {
				d, err := postUntilAccepted(ctx, client, url, body, &rejected)
				if err != nil {
					errs[c] = err
					cancel()
					return
				}
				lat[c] = append(lat[c], d)
			}
		}()
	}
	wg.Wait()
	run := loadRun{elapsed: time.Since(start), rejected: rejected.Load()}
	if err := errors.Join(errs...); err != nil {
		return run, err
	}
	run.lat = slices.Concat(lat...)
	slices.Sort(run.lat)
	return run, nil
}

// baseline runs the same load against a bare handler that reads the body and
// answers 200: what HTTP alone costs on this machine, for the ratio.
func baseline(ctx context.Context, o Options, body []byte) (loadRun, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return loadRun{}, err
	}
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rw.WriteHeader(200)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	return load(ctx, "http://"+ln.Addr().String()+"/", o, body)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func openSource(ctx context.Context, o Options) (*braidhttp.Webhook, error) {
	spec := braidhttp.WebhookPlugin().Spec
	cfg, err := spec.Validate(map[string]any{
		"listen":     "127.0.0.1:0",
		"batch":      true,
		"queue_size": 4 * o.Concurrency,
		"max_batch":  50 * o.BatchSize,
	})
	if err != nil {
		return nil, err
	}
	src, err := braidhttp.NewWebhook(cfg, sdk.Env{})
	if err != nil {
		return nil, err
	}
	return src, src.Open(ctx, nil)
}

// drain plays the worker: Read, hand over, Ack the last position.
func drain(ctx context.Context, src *braidhttp.Webhook, deliver func(context.Context, []sdk.Record) error, n *atomic.Int64) error {
	for {
		recs, err := src.Read(ctx)
		if err != nil {
			return err
		}
		if deliver != nil {
			if err := deliver(ctx, recs); err != nil {
				return fmt.Errorf("deliver: %w", err)
			}
		}
		n.Add(int64(len(recs)))
		if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
			return err
		}
	}
}

// drainAsync is drain with deliveries in flight: a second goroutine waits
// for each in order and acks it, with at most 16 batches outstanding.
func drainAsync(ctx context.Context, src *braidhttp.Webhook, deliver func(context.Context, []sdk.Record) (func() error, error), n *atomic.Int64) error {
	type pending struct {
		wait func() error
		pos  sdk.Position
		n    int
	}
	queue := make(chan pending, 16)
	ackErr := make(chan error, 1)
	go func() {
		for p := range queue {
			if err := p.wait(); err != nil {
				ackErr <- fmt.Errorf("deliver: %w", err)
				return
			}
			n.Add(int64(p.n))
			if err := src.Ack(ctx, p.pos); err != nil {
				ackErr <- err
				return
			}
		}
		ackErr <- nil
	}()
	defer close(queue)
	for {
		recs, err := src.Read(ctx)
		if err != nil {
			return err
		}
		wait, err := deliver(ctx, recs)
		if err != nil {
			return fmt.Errorf("deliver: %w", err)
		}
		select {
		case queue <- pending{wait: wait, pos: recs[len(recs)-1].Position, n: len(recs)}:
		case err := <-ackErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func batchBody(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%d","event":"page_view","path":"/products/%d","ms":%d}`, i, i%97, i%13, i*7%1000)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// postUntilAccepted sends one batch, retrying 429/503 as a well-behaved client
// would (without the Retry-After wait, to keep the pressure on).
func postUntilAccepted(ctx context.Context, c *nethttp.Client, url string, body []byte, rejected *atomic.Int64) (time.Duration, error) {
	t0 := time.Now()
	for {
		req, err := nethttp.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			return time.Since(t0), nil
		case 429, 503:
			rejected.Add(1)
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		default:
			return 0, fmt.Errorf("webhook answered %d", resp.StatusCode)
		}
	}
}
