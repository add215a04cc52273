package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMemoryBudget runs `braid run --memory 128MiB` on 1,000,000 JSON lines
// from a file through a 3-partition topic into a file sink: every line
// arrives, and the process's peak resident memory (VmHWM, code pages
// included) stays within the budget.
func TestMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary on 1,000,000 records; skipped with -short")
	}
	bin := buildBraid(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "input.jsonl")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const n = 1_000_000
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, `{"id":%d,"name":"user-%07d","amount":%d.%02d,"n":%d,"ts":"2024-01-01T00:00:00Z"}`+"\n", i, i, i%100000, i%100, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "out")
	pipeline := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipeline, []byte(fmt.Sprintf(`version: 1
name: budget
topics:
  t: { partitions: 3 }
sources:
  in: { connector: file, topic: t, config: { path: %q, format: lines, batch.size: 10000 } }
sinks:
  out: { connector: file, topics: [t], config: { path: %q, format: raw } }
`, in, out)), 0o644)
	const budget = 128 << 20
	cmd := exec.Command(bin, "run", "-f", pipeline, "--data-dir", filepath.Join(dir, "data"), "--http", "", "--kafka", "off",
		"--memory", "128MiB", "--once", "--timeout", "5m")
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=", "BRAID_MEMORY=")
	var outb strings.Builder
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The peak is the kernel's high-water mark of the process's own memory
	// (VmHWM), read until it exits. Its rusage is no measure: Go starts it
	// with vfork, and Linux keeps the high-water mark of the memory it
	// replaced at exec, which is this test process's.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		if hwm, ok := highWater(cmd.Process.Pid); ok && hwm > peak {
			peak = hwm
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("braid run: %v\n%s", err, outb.String())
			}
			running = false
		case <-tick.C:
		}
	}
	lines := readSinkLines(t, out)
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		seen[l] = true
	}
	if len(lines) != n || len(seen) != n {
		t.Fatalf("%d lines (%d distinct) in the sink's files, want %d once each", len(lines), len(seen), n)
	}
	if peak == 0 {
		t.Fatal("no VmHWM read from /proc while braid ran")
	}
	t.Logf("peak RSS %.1f MiB under a budget of %d MiB", float64(peak)/(1<<20), budget>>20)
	if peak > budget {
		t.Fatalf("peak RSS %.1f MiB is over the --memory budget of %d MiB", float64(peak)/(1<<20), budget>>20)
	}
}

// highWater reads the process's peak resident set (VmHWM) in bytes from
// /proc; ok is false once the process is gone.
func highWater(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// TestMemoryFlag: a budget that is not a size, or is below the least one,
// is refused with what to give; a good one sets the Go limit to the budget
// less the code's share.
func TestMemoryFlag(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, c := range []struct{ value, want string }{
		{"lots", `--memory: "lots" is not a size (e.g. 256MiB, 1GiB, 500MB)`},
		{"64MiB", "--memory 64MiB: the least budget is 96MiB"},
	} {
		if err := applyMemory(c.value, logger); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("--memory %s: %v, want %q", c.value, err, c.want)
		}
	}
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(math.MaxInt64)
	if err := applyMemory("200MiB", logger); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 200<<20-codeReserve {
		t.Fatalf("Go memory limit %d, want %d", got, 200<<20-codeReserve)
	}
}
