// Package httpbench measures the http-webhook source end to end: concurrent
// clients POST JSON-array batches over loopback while a reader drains the
// source with Read and Ack, as the worker does.
package httpbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	src, err := openSource(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = src.Close(cctx)
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var read atomic.Int64
	readErr := make(chan error, 1)
	go func() { readErr <- drain(ctx, src, o.Deliver, &read) }()

	body := batchBody(o.BatchSize)
	requests := (o.Records + o.BatchSize - 1) / o.BatchSize
	var next, rejected atomic.Int64
	lat := make([][]time.Duration, o.Concurrency)
	errs := make([]error, o.Concurrency)
	client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	url := "http://" + src.Addr() + "/"
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
	elapsed := time.Since(start)
	cancel()
	if err := <-readErr; err != nil && !errors.Is(err, context.Canceled) {
		return Result{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	n := read.Load()
	return Result{
		Records:   n,
		Requests:  int64(len(all)),
		Rejected:  rejected.Load(),
		Seconds:   elapsed.Seconds(),
		RPS:       float64(n) / elapsed.Seconds(),
		P50Millis: ms(all[len(all)/2]),
		P99Millis: ms(all[(len(all)*99)/100]),
	}, nil
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
