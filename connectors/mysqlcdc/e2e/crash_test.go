package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashSafetySIGKILL runs origin table → mysql-cdc → topic → jdbc-sink
// mirror with `braid run`, SIGKILLs it six times at random moments (the first
// two in the middle of the snapshot) while a workload inserts, updates and deletes on the
// origin, some of it in multi-statement transactions, then stops the
// workload, runs braid once more and requires the mirror to equal the origin
// row for row, every column.
func TestCrashSafetySIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the binary for about 20 s; skipped with -short")
	}
	src := openDB(t, origin.DSN(""))
	dst := openDB(t, mirrorDSN)
	table := unique("crash_")
	mirror := unique("mycdc_crash_mirror_")
	t.Cleanup(func() { _, _ = dst.Exec("DROP TABLE IF EXISTS " + mirror) })
	exec(t, src, "CREATE DATABASE IF NOT EXISTS shop")
	exec(t, src, "CREATE TABLE shop."+table+" (id BIGINT PRIMARY KEY, v VARCHAR(200), amt DECIMAL(12,2), at DATETIME(6))")
	const initial = 3000
	for i := 0; i < initial; i += 500 {
		var vals []string
		for j := i + 1; j <= i+500; j++ {
			vals = append(vals, fmt.Sprintf("(%d, 'v%d-ä', %d.50, '2024-01-02 03:04:05.123456')", j, j, j))
		}
		exec(t, src, "INSERT INTO shop."+table+" VALUES "+strings.Join(vals, ","))
	}
	if t.Failed() {
		t.FailNow()
	}
	// The general log shows which runs read snapshot chunks, and from where.
	exec(t, src, "SET GLOBAL log_output = 'TABLE'")
	exec(t, src, "SET GLOBAL general_log = ON")
	t.Cleanup(func() { _, _ = src.Exec("SET GLOBAL general_log = OFF") })

	bin := filepath.Join(t.TempDir(), "braid")
	if out, err := osexec.Command("go", "build", "-o", bin, "github.com/braidhq/braid/cmd/braid").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
name: mycdc-crash
topics:
  rows: { partitions: 2 }
sources:
  cdc:
    connector: mysql-cdc
    topic: rows
    config: { dsn: %q, tables: [%s], snapshot.chunk.size: 20, server.id: 4343 }
sinks:
  mirror:
    connector: jdbc-sink
    topics: [rows]
    config: { dsn: %q, insert.mode: upsert, pk.mode: record_key, delete.enabled: true, auto.create: true, table.name.format: %s }
`, origin.DSN(""), "shop."+table, mirrorDSN, mirror)
	if err := os.WriteFile(pipeline, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "-f", pipeline, "--data-dir", filepath.Join(dir, "data"), "--http", "", "--kafka", "off",
		"--watch=false", "--log-level", "warn"}

	// The workload runs through every kill and stops before the last run.
	var stop atomic.Bool
	var ops, txs atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		crashWorkload(t, src, table, initial, &stop, &ops, &txs)
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	const kills = 6
	chunks := 0 // snapshot chunk queries so far
	for k := 0; k < kills; k++ {
		cmd := osexec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
		// The snapshot (3000 rows in chunks of 20) takes braid only about
		// 200 ms, so the first two kills wait for it in the general log: each
		// comes after 10–70 more chunk queries, in the snapshot, and the
		// second run resumes it. The others come at random while it streams.
		start := time.Now()
		wait := 1500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))
		if k < 2 {
			wait = 0
			target := chunks + 10 + rng.IntN(60)
			for time.Since(start) < 5*time.Second && chunks < target {
				time.Sleep(2 * time.Millisecond) // polling the general log, with the limit above
				chunks = chunkQueries(t, src, table)
			}
		}
		time.Sleep(wait) // the random moment of the crash, not synchronisation
		wait = time.Since(start)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Logf("killed run %d (started %s UTC) after %s; mirror has %d rows, workload %d ops (%d transactions) so far",
			k+1, start.UTC().Format("15:04:05.000000"), wait.Round(time.Millisecond), len(rows(t, dst, mirror)), ops.Load(), txs.Load())
	}
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	want := rows(t, src, "shop."+table)
	t.Logf("workload stopped after %d ops (%d transactions); origin has %d rows", ops.Load(), txs.Load(), len(want))

	cmd := osexec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	var got []string
	for {
		got = rows(t, dst, mirror)
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			break
		}
		if time.Now().After(deadline) {
			reportDiff(t, want, got)
			t.Fatalf("mirror differs from origin 90 s after the last start: origin %d rows, mirror %d", len(want), len(got))
		}
		time.Sleep(200 * time.Millisecond) // polling, with the deadline above
	}
	t.Logf("final run caught up in %s: %d rows equal", time.Since(start).Round(time.Millisecond), len(got))
	logSnapshotRuns(t, src, table)
	// The origin did not change while the final run caught up.
	if now := rows(t, src, "shop."+table); strings.Join(now, "\n") != strings.Join(want, "\n") {
		t.Fatalf("origin changed after the workload stopped: %d rows, was %d", len(now), len(want))
	}
}

// crashWorkload inserts, updates and deletes random rows of shop.table until
// stop is set: single statements mostly, and every tenth step a transaction
// of 2–6 statements (one in five of those rolled back).
func crashWorkload(t *testing.T, db *sql.DB, table string, next int64, stop *atomic.Bool, ops, txs *atomic.Int64) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 34))
	ctx := context.Background()
	q := "shop." + table
	step := func(x interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) error {
		id := rng.Int64N(next) + 1
		var err error
		switch r := rng.IntN(10); {
		case r < 4:
			next++
			var v any = fmt.Sprintf("new-%d-ö", next)
			if rng.IntN(10) == 0 {
				v = nil
			}
			_, err = x.ExecContext(ctx, "INSERT INTO "+q+" (id, v, amt, at) VALUES (?, ?, ?, NOW(6))", next, v, fmt.Sprintf("%d.%02d", rng.IntN(100000), rng.IntN(100)))
		case r < 7:
			_, err = x.ExecContext(ctx, "UPDATE "+q+" SET v = CONCAT(COALESCE(v, ''), '+'), amt = amt + 1.01, at = NOW(6) WHERE id = ?", id)
		case r < 8: // a range update: several rows in one event
			_, err = x.ExecContext(ctx, "UPDATE "+q+" SET amt = amt - 0.5 WHERE id BETWEEN ? AND ?", id, id+5)
		default:
			_, err = x.ExecContext(ctx, "DELETE FROM "+q+" WHERE id = ?", id)
		}
		ops.Add(1)
		return err
	}
	for !stop.Load() {
		if rng.IntN(10) == 0 {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Errorf("begin: %v", err)
				return
			}
			for range 2 + rng.IntN(5) {
				if err := step(tx); err != nil {
					_ = tx.Rollback()
					t.Errorf("workload: %v", err)
					return
				}
			}
			if rng.IntN(5) == 0 {
				err = tx.Rollback()
			} else {
				err = tx.Commit()
			}
			if err != nil {
				t.Errorf("end transaction: %v", err)
				return
			}
			txs.Add(1)
		} else if err := step(db); err != nil {
			t.Errorf("workload: %v", err)
			return
		}
		time.Sleep(time.Duration(2+rng.IntN(6)) * time.Millisecond) // pacing the workload
	}
}

// snapshotChunkQuery matches in the general log the snapshot's chunk queries
// of shop.<table> (and not the queries of this test on the general log).
const snapshotChunkQuery = "command_type IN ('Query', 'Execute') AND argument LIKE CONCAT('SELECT %FROM `shop`.`', ?, '`%LIMIT%') " +
	"AND argument NOT LIKE '%general_log%'"

// chunkQueries counts the snapshot chunk queries of shop.table so far.
func chunkQueries(t *testing.T, db *sql.DB, table string) int {
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM mysql.general_log WHERE "+snapshotChunkQuery, table).Scan(&n); err != nil {
		t.Errorf("general log: %v", err)
	}
	return n
}

// logSnapshotRuns logs, per origin connection that read snapshot chunks of
// shop.table (one per braid run that snapshotted), how many chunks it read
// and the key its first chunk started after; more than one such connection
// means a kill interrupted the snapshot.
func logSnapshotRuns(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	r, err := db.QueryContext(t.Context(), "SELECT thread_id, argument, DATE_FORMAT(event_time, '%H:%i:%s.%f') FROM mysql.general_log WHERE "+
		snapshotChunkQuery+" ORDER BY event_time", table)
	if err != nil {
		t.Logf("general log: %v", err)
		return
	}
	defer r.Close()
	type run struct {
		chunks      int
		from        string
		first, last string
		lastQ       string
	}
	var order []int64
	runs := map[int64]*run{}
	for r.Next() {
		var id int64
		var q, at string
		if err := r.Scan(&id, &q, &at); err != nil {
			t.Fatal(err)
		}
		if runs[id] == nil {
			from := "the start"
			if _, after, ok := strings.Cut(q, ") > ("); ok {
				from, _, _ = strings.Cut(after, ")")
				from = "id " + from
			}
			runs[id] = &run{from: from, first: at}
			order = append(order, id)
		}
		runs[id].chunks++
		runs[id].last, runs[id].lastQ = at, q
	}
	for i, id := range order {
		x := runs[id]
		t.Logf("snapshot connection %d (thread %d): %d chunk queries from %s, %s–%s UTC; last: %s", i+1, id, x.chunks, x.from, x.first, x.last, x.lastQ)
	}
	if len(order) < 2 {
		t.Logf("no kill interrupted the snapshot this time")
	}
}

// reportDiff logs the ids missing from the mirror, extra in it and differing.
func reportDiff(t *testing.T, want, got []string) {
	t.Helper()
	key := func(rows []string) map[string]string {
		m := make(map[string]string, len(rows))
		for _, r := range rows {
			id, _, _ := strings.Cut(r, "|")
			m[id] = r
		}
		return m
	}
	w, g := key(want), key(got)
	var missing, extra, differ int
	for id, r := range w {
		switch gr, ok := g[id]; {
		case !ok:
			if missing++; missing <= 10 {
				t.Errorf("missing from the mirror: %s", r)
			}
		case gr != r:
			if differ++; differ <= 10 {
				t.Errorf("differs: origin %s, mirror %s", r, gr)
			}
		}
	}
	for id, r := range g {
		if _, ok := w[id]; !ok {
			if extra++; extra <= 10 {
				t.Errorf("extra in the mirror: %s", r)
			}
		}
	}
	t.Errorf("%d rows missing from the mirror, %d extra, %d differing", missing, extra, differ)
}
