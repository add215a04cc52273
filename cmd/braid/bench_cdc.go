package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/braidhq/braid/connectors/builtin"
	mysqlbench "github.com/braidhq/braid/connectors/mysqlcdc/cdcbench"
	pgbench "github.com/braidhq/braid/connectors/pgcdc/cdcbench"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/worker"
)

// cdcOrigin is a private database server the CDC benchmark captures.
type cdcOrigin interface {
	DSN() string
	Table(name string) string
	Create(ctx context.Context, name string, rows int) error
	Changes(ctx context.Context, name string, ops int) error
	InsertOne(ctx context.Context, name string, id int64) error
	Position(ctx context.Context) ([]byte, error)
	RawStream(ctx context.Context, pos []byte, ops int) (time.Duration, error)
	RawScan(ctx context.Context, name string) (int, time.Duration, error)
	Stop()
}

// cdcBenchResult is one run of braid bench cdc.
type cdcBenchResult struct {
	Bench         string  `json:"bench"`
	Dialect       string  `json:"dialect"`
	Ops           int     `json:"ops"`
	RPS           float64 `json:"rps"`     // change events into the log per second, catching up
	RawRPS        float64 `json:"raw_rps"` // the library alone reading the same changes
	Ratio         float64 `json:"ratio"`
	PacedRate     int     `json:"paced_rate"`
	P50ms         float64 `json:"p50_ms"` // commit to readable in the log, single-row transactions
	P99ms         float64 `json:"p99_ms"`
	SnapshotRows  int     `json:"snapshot_rows"`
	SnapshotRPS   float64 `json:"snapshot_rps"`
	RawScanRPS    float64 `json:"raw_scan_rps"` // one keyset-ordered streaming SELECT
	SnapshotRatio float64 `json:"snapshot_ratio"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"` // of this process (the worker and the embedded log; the database runs apart)
}

func newBenchCDCCmd() *cobra.Command {
	var dialect string
	var ops, rows, pacedRate int
	var paced time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cdc",
		Short: "capture a private MariaDB's binlog or PostgreSQL's WAL into the log, beside the raw replication library",
		Long: "Starts a private database server, then: snapshots a table of --rows rows into a topic (baseline: one " +
			"keyset-ordered streaming SELECT of it); writes --ops row changes (half inserts, a quarter updates, a quarter " +
			"deletes) and times the source catching up on them into the log (baseline: go-mysql's BinlogStreamer or " +
			"pglogrepl reading the same changes with nothing after them); then commits single-row transactions at " +
			"--paced-rate for --paced and measures commit to readable in the log.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var o cdcOrigin
			var err error
			switch dialect {
			case "mysql", "mariadb":
				o, err = mysqlbench.Start(cmd.Context())
			case "postgres", "postgresql":
				o, err = pgbench.Start(cmd.Context())
			default:
				return fmt.Errorf("--dialect must be mysql or postgres, not %q", dialect)
			}
			if err != nil {
				return fmt.Errorf("start the private %s server: %w", dialect, err)
			}
			defer o.Stop()
			res, err := runCDCBench(cmd.Context(), o, dialect, ops, rows, pacedRate, paced)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dialect, "dialect", "mysql", "mysql or postgres")
	fl.IntVar(&ops, "ops", 1_000_000, "row changes of the streaming phase")
	fl.IntVar(&rows, "rows", 1_000_000, "rows of the snapshotted table")
	fl.IntVar(&pacedRate, "paced-rate", 1000, "single-row transactions per second of the latency phase")
	fl.DurationVar(&paced, "paced", 5*time.Second, "length of the latency phase")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

func runCDCBench(ctx context.Context, o cdcOrigin, dialect string, ops, rows, pacedRate int, paced time.Duration) (*cdcBenchResult, error) {
	res := &cdcBenchResult{Bench: "cdc", Dialect: dialect, Ops: ops, SnapshotRows: rows, PacedRate: pacedRate}
	connector := "mysql-cdc"
	if dialect == "postgres" || dialect == "postgresql" {
		connector, res.Dialect = "postgres-cdc", "postgres"
	} else {
		res.Dialect = "mysql"
	}
	if err := o.Create(ctx, "snap", rows); err != nil {
		return nil, err
	}
	if err := o.Create(ctx, "stream", ops/2); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "braid-bench-cdc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	builtin.RegisterConverters()
	eng, err := engine.Start(ctx, engine.Options{NATS: natsd.Config{DataDir: dir}, Plugins: builtin.Plugins(), DataDir: dir})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = eng.Close(cctx)
	}()
	apply := func(sources string) error {
		yaml := "version: 1\nname: bench\ntopics:\n  snap: { partitions: 1 }\n  stream: { partitions: 1 }\nsources:\n" + sources
		p, lints := pipelines.Parse("bench.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
		if len(lints) > 0 {
			return fmt.Errorf("bench pipeline: %v", lints)
		}
		_, err := eng.Apply(ctx, p, false)
		return err
	}
	batch := "" // each source's default batch
	source := func(name, topic, table, extra string) string {
		return fmt.Sprintf("  %s: { connector: %s, topic: %s, config: { dsn: %q, tables: [%s], snapshot.chunk.size: 10000%s%s } }\n",
			name, connector, topic, o.DSN(), o.Table(table), batch, extra)
	}

	// Snapshot.
	n, d, err := o.RawScan(ctx, "snap")
	if err != nil || n != rows {
		return nil, fmt.Errorf("raw scan: %d of %d rows: %v", n, rows, err)
	}
	res.RawScanRPS = float64(rows) / d.Seconds()
	start := time.Now()
	if err := apply(source("snap", "snap", "snap", ", snapshot.mode: initial_only")); err != nil {
		return nil, err
	}
	if err := waitRecords(ctx, eng, "snap", rows, 10*time.Minute); err != nil {
		return nil, err
	}
	res.SnapshotRPS = float64(rows) / time.Since(start).Seconds()
	res.SnapshotRatio = res.SnapshotRPS / res.RawScanRPS

	// Streaming: the source catches up on changes written while it was not
	// reading, as does the raw reader.
	streamCfg := worker.ConnectorConfig{Pipeline: "bench", Name: "cdc", Topic: "stream"}
	prep, isPG := o.(interface {
		PrepareRaw(ctx context.Context, table string) error
	})
	if isPG {
		// The connector creates its slot, then stops; the baseline gets one too.
		if err := apply(source("cdc", "stream", "stream", ", snapshot.mode: never, heartbeat.interval: 0s")); err != nil {
			return nil, err
		}
		if err := waitRunning(ctx, eng, "cdc"); err != nil {
			return nil, err
		}
		if err := stopConnector(ctx, eng, "cdc"); err != nil {
			return nil, err
		}
		if err := prep.PrepareRaw(ctx, "stream"); err != nil {
			return nil, err
		}
	}
	pos, err := o.Position(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.Changes(ctx, "stream", ops); err != nil {
		return nil, err
	}
	raw, err := o.RawStream(ctx, pos, ops)
	if err != nil {
		return nil, err
	}
	res.RawRPS = float64(ops) / raw.Seconds()
	start = time.Now()
	if isPG {
		if err := eng.Worker.Resume(ctx, "cdc"); err != nil {
			return nil, err
		}
	} else {
		if err := eng.Log.CreateTopic(ctx, "stream", log.TopicConfig{Partitions: 1}); err != nil && !errors.Is(err, log.ErrTopicExists) {
			return nil, err
		}
		if err := eng.Worker.SetSourcePosition(ctx, streamCfg, 0, pos); err != nil {
			return nil, err
		}
		start = time.Now()
		if err := apply(source("cdc", "stream", "stream", ", snapshot.mode: never, heartbeat.topic: \"-\"")); err != nil {
			return nil, err
		}
	}
	if err := waitRecords(ctx, eng, "stream", ops, 10*time.Minute); err != nil {
		return nil, err
	}
	res.RPS = float64(ops) / time.Since(start).Seconds()
	res.Ratio = res.RPS / res.RawRPS

	// Latency: single-row transactions at a fixed rate, commit to readable.
	lat, err := pacedCDC(ctx, eng, o, ops, pacedRate, paced)
	if err != nil {
		return nil, err
	}
	res.P50ms, res.P99ms = lat[0], lat[1]
	res.PeakRSSMiB = peakRSSMiB()
	return res, nil
}

// waitRecords polls until topic holds n records.
func waitRecords(ctx context.Context, eng *engine.Engine, topic string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		got := topicRecords(ctx, eng, topic)
		if got >= int64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has %d of %d records after %s; status %+v", topic, got, n, limit, eng.Status())
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

func topicRecords(ctx context.Context, eng *engine.Engine, topic string) int64 {
	ti, err := eng.Log.Topic(ctx, topic)
	if err != nil {
		return 0
	}
	var n int64
	for _, p := range ti.Partitions {
		n += p.EndOffset
	}
	return n
}

func waitRunning(ctx context.Context, eng *engine.Engine, name string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := eng.Worker.StatusContext(ctx, name)
		if err == nil && len(st.Tasks) > 0 && st.Tasks[0].State == worker.StateRunning {
			return sleepCtx(ctx, 500*time.Millisecond) // the source opened: its slot exists
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connector %s is not running after 60 s: %+v %v", name, st, err)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func stopConnector(ctx context.Context, eng *engine.Engine, name string) error {
	if err := eng.Worker.Stop(ctx, name); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, why, err := eng.Worker.Stopped(ctx, name)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connector %s did not stop: %s", name, why)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// pacedCDC inserts single rows at rate for d while a reader tails the
// stream topic, and returns the median and 99th percentile in ms from just
// before each INSERT to the record being readable.
func pacedCDC(ctx context.Context, eng *engine.Engine, o cdcOrigin, base, rate int, d time.Duration) ([2]float64, error) {
	from := topicRecords(ctx, eng, "stream")
	rd, err := eng.Log.NewReader(ctx, "stream", 0, from)
	if err != nil {
		return [2]float64{}, err
	}
	defer rd.Close()
	var sent sync.Map // id → time.Time
	total := int(float64(rate) * d.Seconds())
	rctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	lats := make([]float64, 0, total)
	done := make(chan error, 1)
	go func() {
		for len(lats) < total {
			recs, err := rd.Fetch(rctx, 1000, 1<<20, 50*time.Millisecond)
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				done <- err
				return
			}
			if rctx.Err() != nil {
				done <- fmt.Errorf("latency phase: %d of %d records read", len(lats), total)
				return
			}
			now := time.Now()
			for _, r := range recs {
				var k struct {
					ID json.Number `json:"id"`
				}
				if json.Unmarshal(r.Key, &k) != nil {
					continue
				}
				id, _ := strconv.ParseInt(k.ID.String(), 10, 64)
				if t, ok := sent.Load(id); ok {
					lats = append(lats, float64(now.Sub(t.(time.Time)).Microseconds())/1000)
				}
			}
		}
		done <- nil
	}()
	every := time.Second / time.Duration(rate)
	next := time.Now()
	for i := range total {
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		next = next.Add(every)
		id := int64(base*10 + i)
		sent.Store(id, time.Now())
		if err := o.InsertOne(ctx, "stream", id); err != nil {
			return [2]float64{}, err
		}
	}
	if err := <-done; err != nil {
		return [2]float64{}, err
	}
	sort.Float64s(lats)
	return [2]float64{lats[len(lats)/2], lats[len(lats)*99/100]}, nil
}

// peakRSSMiB is the process's peak resident set (VmHWM).
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
