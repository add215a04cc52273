package remotefstest

// The benchmark behind `braid bench sftp|ftp`: an ftp or sftp source reads
// files from a loopback server into records, beside the raw client library
// downloading the same files in the same run.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

// BenchOptions size a benchmark run.
type BenchOptions struct {
	Files     int
	Lines     int // per file
	LineSize  int
	Downloads int // concurrent downloads, both sides
	Rounds    int // runs of each side; the best is reported
	// Format is the source's format: lines (one record per line, the
	// default) or binary (one record per file), which measures the
	// download itself rather than the per-line record path.
	Format string
}

// BenchTarget is the connector and the server it reads from.
type BenchTarget struct {
	Plugin sdk.Plugin
	Config map[string]any // connection settings
	Local  string         // local directory the server serves as Remote
	Remote string
	// Raw downloads the files whole with the client library, downloads at a
	// time, each over its own connection, discarding the bytes.
	Raw func(ctx context.Context, paths []string, downloads int) (int64, error)
}

// BenchResult is one benchmark's figures.
type BenchResult struct {
	Connector       string  `json:"connector"`
	Format          string  `json:"format"`
	Files           int     `json:"files"`
	Lines           int     `json:"lines"`
	Bytes           int64   `json:"bytes"`
	Downloads       int     `json:"downloads"`
	Seconds         float64 `json:"seconds"`
	MBPerSec        float64 `json:"mb_per_s"`
	LinesPerSec     float64 `json:"lines_per_s"`
	BaselineSeconds float64 `json:"baseline_seconds"`
	BaselineMBPerS  float64 `json:"baseline_mb_per_s"`
	// Ratio is the source's throughput over the raw library's (1: as fast).
	Ratio float64 `json:"ratio"`
}

// Bench writes the files, then times both sides.
func Bench(ctx context.Context, tg BenchTarget, o BenchOptions) (BenchResult, error) {
	o.Rounds = max(o.Rounds, 1)
	if o.Format == "" {
		o.Format = "lines"
	}
	if o.Format != "lines" && o.Format != "binary" {
		return BenchResult{}, fmt.Errorf("format %q: want lines or binary", o.Format)
	}
	res := BenchResult{Connector: tg.Plugin.Spec.Name, Format: o.Format, Files: o.Files, Lines: o.Files * o.Lines, Downloads: o.Downloads}
	dir := filepath.Join(tg.Local, "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	line := []byte(strings.Repeat("x", max(o.LineSize-1, 1)) + "\n")
	data := make([]byte, 0, len(line)*o.Lines)
	for range o.Lines {
		data = append(data, line...)
	}
	var paths []string
	for i := range o.Files {
		name := fmt.Sprintf("part-%05d.txt", i)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return res, err
		}
		paths = append(paths, path.Join(tg.Remote, "bench", name))
	}
	res.Bytes = int64(len(data)) * int64(o.Files)
	best, bestRaw := time.Duration(0), time.Duration(0)
	for range o.Rounds {
		d, err := throughSource(ctx, tg, o, path.Join(tg.Remote, "bench"))
		if err != nil {
			return res, err
		}
		if best == 0 || d < best {
			best = d
		}
		start := time.Now()
		n, err := tg.Raw(ctx, paths, o.Downloads)
		if err != nil {
			return res, fmt.Errorf("baseline: %w", err)
		}
		if n != res.Bytes {
			return res, fmt.Errorf("baseline read %d bytes, want %d", n, res.Bytes)
		}
		if d := time.Since(start); bestRaw == 0 || d < bestRaw {
			bestRaw = d
		}
	}
	res.Seconds, res.BaselineSeconds = best.Seconds(), bestRaw.Seconds()
	res.MBPerSec = float64(res.Bytes) / 1e6 / res.Seconds
	res.LinesPerSec = float64(res.Lines) / res.Seconds
	res.BaselineMBPerS = float64(res.Bytes) / 1e6 / res.BaselineSeconds
	res.Ratio = res.BaselineSeconds / res.Seconds
	return res, nil
}

// throughSource reads every line as records, acknowledging each batch as
// the worker would, and returns how long it took from Open.
func throughSource(ctx context.Context, tg BenchTarget, o BenchOptions, remote string) (time.Duration, error) {
	raw := map[string]any{"path": remote, "stable.for": "0s", "poll.interval": "10ms", "max.downloads": o.Downloads, "batch.size": 1000, "format": o.Format}
	for k, v := range tg.Config {
		raw[k] = v
	}
	cfg, err := tg.Plugin.Spec.Validate(raw)
	if err != nil {
		return 0, err
	}
	src, err := tg.Plugin.NewSource(cfg, sdk.Env{Store: sdktest.NewMemStore()})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	if err := src.Open(ctx, nil); err != nil {
		return 0, err
	}
	defer src.Close(context.Background())
	want := o.Files * o.Lines
	if o.Format == "binary" {
		want = o.Files
	}
	for n := 0; n < want; {
		recs, err := src.Read(ctx)
		if err != nil && !errors.Is(err, sdk.ErrBackoff) {
			return 0, fmt.Errorf("read after %d of %d records: %w", n, want, err)
		}
		if len(recs) > 0 {
			n += len(recs)
			if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

// Parallel runs fetch over paths, n at a time, each worker over its own
// connection from dial; it returns the bytes read. It is the baselines'
// download loop.
func Parallel[C any](paths []string, n int, dial func() (C, func(), error), fetch func(C, string) (int64, error)) (int64, error) {
	var total, next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, closeFn, err := dial()
			if err != nil {
				errs <- err
				return
			}
			defer closeFn()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(paths) {
					return
				}
				m, err := fetch(c, paths[i])
				if err != nil {
					errs <- err
					return
				}
				total.Add(m)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return total.Load(), <-errs
}
