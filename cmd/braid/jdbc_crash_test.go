package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/jdbc"
)

// TestJDBCCrashSafety copies a 200,000-row MariaDB table into PostgreSQL
// (jdbc-source → log → jdbc-sink upsert) with `braid run`, SIGKILLs it at
// random moments, restarts it each time, lets the last run catch up and
// checks that the target holds exactly the source's rows: same count, same
// aggregates over every column, no duplicates (the key is the primary key).
func TestJDBCCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the binary for up to a minute; skipped with -short")
	}
	const rows = 200_000
	ctx := t.Context()
	my, err := jdbc.Open(ctx, jdbc.MySQL, "root@tcp(127.0.0.1:3306)/test", nil)
	if err != nil {
		t.Fatalf("MariaDB at 127.0.0.1:3306 is needed: %v", err)
	}
	defer my.Close()
	pg, err := jdbc.Open(ctx, jdbc.Postgres, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", nil)
	if err != nil {
		t.Fatalf("PostgreSQL at 127.0.0.1:5432 is needed: %v", err)
	}
	defer pg.Close()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	src, dst := "crash_src_"+hex.EncodeToString(b), "crash_dst_"+hex.EncodeToString(b)
	t.Cleanup(func() {
		_, _ = my.Exec("DROP TABLE IF EXISTS " + jdbc.MySQL.Quote(src))
		_, _ = pg.Exec("DROP TABLE IF EXISTS " + jdbc.Postgres.Quote(dst))
	})
	fillCrashSource(t, my, src, rows)

	bin := buildBraid(t)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
name: jdbc-crash
topics:
  rows: { partitions: 3 }
sources:
  db: { connector: jdbc-source, topic: rows, config: { dsn: "root@tcp(127.0.0.1:3306)/test", mode: incrementing, incrementing.column: id, tables: [%s], batch.max.rows: 2000, poll.interval: 200ms } }
sinks:
  warehouse: { connector: jdbc-sink, topics: [rows], config: { dsn: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", insert.mode: upsert, auto.create: true, table.name.format: %s } }
`, src, dst)
	if err := os.WriteFile(pipeline, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Every run uses the same data dir, so the same worker id: a restarted
	// run takes its tasks' leases back at once.
	args := []string{"run", "-f", pipeline, "--data-dir", filepath.Join(dir, "data"), "--http", "", "--watch=false",
		"--log-level", "warn"}
	killRepeatedly(t, bin, filepath.Join(dir, "data"), args, 5, rows, 1, "rows in the target", func() int { return countRows(pg, dst) })
	// The final run serves the API, so the test knows when it is up (and
	// handles SIGINT) before it signals it.
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	final := append(append([]string(nil), args...), "--http", addr)
	cmd := exec.Command(bin, final...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	start := time.Now()
	if err := waitListening(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	deadline := start.Add(60 * time.Second)
	for n := countRows(pg, dst); n < rows; n = countRows(pg, dst) {
		if time.Now().After(deadline) {
			t.Fatalf("target has %d of %d rows after 60 s", n, rows)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, with the deadline above
	}
	t.Logf("final run caught up in %s", time.Since(start).Round(time.Millisecond))
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("final run did not stop cleanly on SIGINT: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("final run did not stop within 20 s of SIGINT")
	}
	q := "SELECT COUNT(*), COUNT(DISTINCT id), SUM(id), SUM(amount), SUM(CHAR_LENGTH(name)), MIN(ts), MAX(ts) FROM "
	want, got := aggregates(t, my, q+jdbc.MySQL.Quote(src)), aggregates(t, pg, q+jdbc.Postgres.Quote(dst))
	if want != got {
		t.Fatalf("target differs from source:\nsource count, distinct ids, sum(id), sum(amount), sum(len(name)), min(ts), max(ts) = %s\ntarget %s", want, got)
	}
}

// fillCrashSource creates the source table with rows rows, 2,000 per INSERT.
func fillCrashSource(t *testing.T, db *sql.DB, table string, rows int) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+jdbc.MySQL.Quote(table)+
		" (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount DECIMAL(12,2) NOT NULL, ts DATETIME(6) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var sb strings.Builder
	for start := 1; start <= rows; start += 2000 {
		sb.Reset()
		sb.WriteString("INSERT INTO " + jdbc.MySQL.Quote(table) + " VALUES ")
		for i := start; i < start+2000 && i <= rows; i++ {
			if i > start {
				sb.WriteByte(',')
			}
			ts := base.Add(time.Duration(i) * 1001 * time.Millisecond)
			fmt.Fprintf(&sb, "(%d,'name-%d-ä',%d.%02d,'%s')", i, i, i%100000, i%100, ts.Format("2006-01-02 15:04:05.000000"))
		}
		if _, err := db.ExecContext(ctx, sb.String()); err != nil {
			t.Fatal(err)
		}
	}
}

func countRows(db *sql.DB, table string) int {
	var n int
	_ = db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+jdbc.Postgres.Quote(table)).Scan(&n)
	return n
}

// aggregates renders the aggregate row of q as text: numbers as the database
// prints them, times in UTC.
func aggregates(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	vals := make([]any, 7)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := db.QueryRowContext(t.Context(), q).Scan(ptrs...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case []byte:
			out[i] = string(x)
		case time.Time:
			out[i] = x.UTC().Format(time.RFC3339Nano)
		default:
			out[i] = fmt.Sprint(x)
		}
	}
	return strings.Join(out, ", ")
}
