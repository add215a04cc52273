package e2e

import (
	"bytes"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashSafetySIGKILL mirrors a PostgreSQL table (postgres-cdc → log →
// jdbc-sink upsert with deletes) with `braid run`, SIGKILLs it at random
// moments (the first two aim at the snapshot) while a workload inserts,
// updates and deletes rows on the origin, then lets a last run catch up and
// checks that the mirror equals the origin row for row, every column.
func TestCrashSafetySIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the binary for 10-30 s; skipped with -short")
	}
	origin, mirror := pool(t, server.DSN("postgres")), pool(t, mirrorDSN)
	table := originTable(t, origin, mirror, "cdc_crash_", 3000)
	slot := unique("crash_")
	t.Cleanup(func() {
		// The killed runs' walsenders may hold the slot for a moment.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := origin.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", slot)
			cancel()
			if err == nil {
				return
			}
		}
	})

	dir := t.TempDir()
	bin := filepath.Join(dir, "braid")
	if out, err := osexec.Command("go", "build", "-o", bin, "github.com/braidhq/braid/cmd/braid").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pipeline := filepath.Join(dir, "pipeline.yaml")
	yaml := mirrorPipeline(table, slot, "snapshot.chunk.size: 200")
	if err := os.WriteFile(pipeline, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Every run uses the same data dir, so the same worker id: a restarted
	// run takes its tasks' leases back at once.
	args := []string{"run", "-f", pipeline, "--data-dir", filepath.Join(dir, "data"), "--http", "", "--kafka", "off",
		"--watch=false", "--log-level", "info"}
	// Each run logs to a buffer: the test reports where in the snapshot a
	// kill landed, and on a failure the final run's log.
	start := func() (*osexec.Cmd, *syncBuffer) {
		t.Helper()
		cmd, log := osexec.Command(bin, args...), &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, log
	}

	// The workload runs on the origin through every crash.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				ops = i
				return
			default:
			}
			q := randomChange(table, 3500, i)
			if _, err := origin.Exec(context.Background(), q); err != nil {
				t.Errorf("workload: %s: %v", q, err)
				ops = i
				return
			}
			time.Sleep(time.Duration(rnd(int64(4 * time.Millisecond)))) // a paced workload, not synchronisation
		}
	}()
	stopWorkload := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopWorkload()

	kills := 5 + int(rnd(2))
	for kill := 0; kill < kills; kill++ {
		cmd, log := start()
		began := time.Now()
		if kill < 2 {
			// A 3,000-row snapshot takes tens of milliseconds: the first two
			// kills aim at it, 0-100 ms after it started (or after streaming
			// started, when this run found it done).
			for deadline := began.Add(20 * time.Second); log.snapshotState() == "before the source started" && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond) // polling interval, with the deadline
			}
			time.Sleep(time.Duration(rnd(int64(100 * time.Millisecond)))) // the random moment of the crash
		} else {
			time.Sleep(1500*time.Millisecond + time.Duration(rnd(int64(2500*time.Millisecond)))) // the random moment of the crash, not synchronisation
		}
		wait := time.Since(began)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		n, _ := rows(context.Background(), mirror, table)
		t.Logf("killed run %d after %s (%s); %d rows in the mirror", kill+1, wait.Round(time.Millisecond), log.snapshotState(), len(n))
	}
	stopWorkload()
	if t.Failed() {
		return
	}
	t.Logf("workload ran %d changes", ops)

	cmd, log := start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	began := time.Now()
	want, err := rows(context.Background(), origin, table)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for deadline := began.Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) { // polling interval, with the deadline
		got, _ = rows(context.Background(), mirror, table)
		if reflect.DeepEqual(want, got) {
			t.Logf("final run caught up in %s: %d rows equal", time.Since(began).Round(time.Millisecond), len(want))
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Logf("final run's log:\n%s", log.String())
	reportDiff(t, want, got)
}

// syncBuffer collects a run's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// snapshotState tells from a run's log how far the snapshot got in it.
func (b *syncBuffer) snapshotState() string {
	s := b.String()
	switch {
	case strings.Contains(s, "snapshot done"):
		return "snapshot finished in this run"
	case strings.Contains(s, "resumed=true"):
		return "mid-snapshot, resumed"
	case strings.Contains(s, "snapshot started"):
		return "mid-snapshot"
	case strings.Contains(s, "streaming"):
		return "streaming"
	}
	return "before the source started"
}

// reportDiff fails the test with the rows the mirror lacks, holds extra or
// holds differently (at most 10 of each).
func reportDiff(t *testing.T, origin, mirror [][]string) {
	t.Helper()
	byID := func(rs [][]string) map[string][]string {
		m := make(map[string][]string, len(rs))
		for _, r := range rs {
			m[r[0]] = r
		}
		return m
	}
	o, m := byID(origin), byID(mirror)
	var missing, extra, differ int
	for id, r := range o {
		switch mr, ok := m[id]; {
		case !ok:
			if missing++; missing <= 10 {
				t.Errorf("missing in the mirror: %v", r)
			}
		case !reflect.DeepEqual(r, mr):
			if differ++; differ <= 10 {
				t.Errorf("row %s differs:\n  origin %v\n  mirror %v", id, r, mr)
			}
		}
	}
	for id, r := range m {
		if _, ok := o[id]; !ok {
			if extra++; extra <= 10 {
				t.Errorf("extra in the mirror (deleted on the origin): %v", r)
			}
		}
	}
	t.Fatalf("after 90 s the mirror (%d rows) differs from the origin (%d rows): %d missing, %d extra, %d different",
		len(mirror), len(origin), missing, extra, differ)
}
