package tcpbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/socket"
)

// Options of one run.
type Options struct {
	Lines   int // syslog lines to send in all (default 1,000,000)
	Clients int // concurrent connections (default 8)
	// Addr, when set, is a tcp source (framing syslog) run elsewhere, by a
	// worker into the log; Stored then says how many records the log holds,
	// and the run ends when it holds them all. Without Addr the bench opens
	// the source itself and reads and acknowledges as the worker would.
	Addr   string
	Stored func(ctx context.Context) (int64, error)
}

// Result of one run.
type Result struct {
	Lines       int64   `json:"lines"`
	Clients     int     `json:"clients"`
	Seconds     float64 `json:"seconds"`
	LinesPerSec float64 `json:"lines_per_s"`
	// BaselineLinesPerSec is the same load into a raw socket reader that
	// only counts newlines, in the same run; Ratio = LinesPerSec / it.
	BaselineLinesPerSec float64 `json:"baseline_lines_per_s"`
	Ratio               float64 `json:"ratio"`
	// IntoLog says whether the lines went on into the log (Addr set).
	IntoLog bool `json:"into_log"`
}

// Run runs the benchmark.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Lines <= 0 {
		o.Lines = 1_000_000
	}
	if o.Clients <= 0 {
		o.Clients = 8
	}
	if o.Addr != "" && o.Stored == nil {
		return Result{}, errors.New("tcpbench: Addr needs Stored")
	}
	payloads := make([][]byte, o.Clients)
	for c := range payloads {
		payloads[c] = lines(c, share(o.Lines, o.Clients, c))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	addr, stored := o.Addr, o.Stored
	if addr == "" {
		src, n, err := openSource(ctx)
		if err != nil {
			return Result{}, err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = src.Close(cctx)
		}()
		addr = src.Addr()
		stored = func(context.Context) (int64, error) { return n.Load(), nil }
	}
	elapsed, err := load(ctx, addr, payloads, int64(o.Lines), stored)
	if err != nil {
		return Result{}, err
	}
	base, err := baseline(ctx, payloads, int64(o.Lines))
	if err != nil {
		return Result{}, fmt.Errorf("baseline: %w", err)
	}
	res := Result{Lines: int64(o.Lines), Clients: o.Clients, Seconds: elapsed.Seconds(), IntoLog: o.Addr != "",
		LinesPerSec: float64(o.Lines) / elapsed.Seconds(), BaselineLinesPerSec: float64(o.Lines) / base.Seconds()}
	res.Ratio = res.LinesPerSec / res.BaselineLinesPerSec
	return res, nil
}

func share(total, parts, i int) int {
	n := total / parts
	if i < total%parts {
		n++
	}
	return n
}

// lines makes client c's n RFC 5424 lines, about 130 bytes each.
func lines(c, n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "<14>1 2026-12-03T06:00:%02d.%06dZ host-%d.example.com billing %d ID%d [meta@32473 seq=\"%d\"] invoice %d sent to customer %d\n",
			i%60, i%1_000_000, c, 1000+c, i%50, i, i, i%997)
	}
	return b.Bytes()
}

// load sends every payload on its own connection and waits until stored
// reaches want.
func load(ctx context.Context, addr string, payloads [][]byte, want int64, stored func(context.Context) (int64, error)) (time.Duration, error) {
	start := time.Now()
	errs := make(chan error, len(payloads))
	for _, p := range payloads {
		go func() {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_, err = c.Write(p)
			errs <- err
		}()
	}
	for range payloads {
		if err := <-errs; err != nil {
			return 0, fmt.Errorf("send: %w", err)
		}
	}
	for {
		n, err := stored(ctx)
		if err != nil {
			return 0, err
		}
		if n >= want {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%d of %d lines arrived: %w", n, want, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// baseline sends the same payloads to a raw reader that counts newlines.
func baseline(ctx context.Context, payloads [][]byte, want int64) (time.Duration, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var n atomic.Int64
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReaderSize(c, 64<<10)
				buf := make([]byte, 64<<10)
				for {
					k, err := r.Read(buf)
					n.Add(int64(bytes.Count(buf[:k], []byte{'\n'})))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	defer wg.Wait()
	return load(ctx, ln.Addr().String(), payloads, want, func(context.Context) (int64, error) { return n.Load(), nil })
}

// openSource opens a tcp source and plays the worker: Read, count, Ack.
func openSource(ctx context.Context) (*socket.TCP, *atomic.Int64, error) {
	cfg, err := socket.TCPPlugin().Spec.Validate(map[string]any{"listen": "127.0.0.1:0", "framing": "syslog"})
	if err != nil {
		return nil, nil, err
	}
	src, err := socket.NewTCP(cfg, sdk.Env{})
	if err != nil {
		return nil, nil, err
	}
	if err := src.Open(ctx, nil); err != nil {
		return nil, nil, err
	}
	var n atomic.Int64
	go func() {
		for {
			recs, err := src.Read(ctx)
			if err != nil {
				return
			}
			n.Add(int64(len(recs)))
			if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
				return
			}
		}
	}()
	return src, &n, nil
}
