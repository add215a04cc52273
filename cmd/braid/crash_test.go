package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBraid compiles the binary once per test run.
func buildBraid(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "braid")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCrashSafety kills `braid run` with SIGKILL at random points during a
// 1,000,000-line file → log → file copy, restarts it each time, and checks that
// every input line reached the sink exactly once.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the binary for about a minute; skipped with -short")
	}
	crashSafety(t, buildBraid(t), "file", "file", 1, nil, nil)
}

// crashLines lines of crashLineLen bytes: enough that a run takes a few
// seconds, so kills tied to progress land mid-copy.
const (
	crashLines   = 1_000_000
	crashLineLen = len("line-0000000 ") + 40 + 1
)

// crashSafety runs the crash test with the given source and sink
// connectors, the kills spread over the first share of the lines; extra
// are more flags of braid run; beforeFinal, when set,
// runs before the final uninterrupted run, given the run's flags and the
// sink's directory.
func crashSafety(t *testing.T, bin, source, sink string, share float64, extra []string, beforeFinal func(args []string, out string)) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "input.txt")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < crashLines; i++ {
		fmt.Fprintf(w, "line-%07d %s\n", i, strings.Repeat("x", 40))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "out")
	pipeline := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
name: crash
topics:
  lines: { partitions: 3 }
sources:
  in: { connector: %s, topic: lines, converter: { type: bytes }, config: { path: %q, format: lines, batch.size: 500 } }
sinks:
  out: { connector: %s, topics: [lines], converter: { type: bytes }, config: { path: %q, format: raw } }
`, source, in, sink, out)
	if err := os.WriteFile(pipeline, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "-f", pipeline, "--data-dir", filepath.Join(dir, "data"), "--http", "", "--watch=false", "--log-level", "warn"}, extra...)
	killRepeatedly(t, bin, filepath.Join(dir, "data"), args, 5, crashLines, share, "lines in the sink", func() int { return sinkBytes(t, out) / crashLineLen })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--once")...)
	cmd.Stderr = os.Stderr
	if beforeFinal != nil {
		beforeFinal(args, out)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("final run: %v", err)
	}
	got := readSinkLines(t, out)
	seen := make(map[string]int, len(got))
	for _, l := range got {
		seen[l]++
	}
	var missing, dup int
	for i := 0; i < crashLines; i++ {
		n := seen[fmt.Sprintf("line-%07d %s", i, strings.Repeat("x", 40))]
		if n == 0 {
			missing++
		}
		if n > 1 {
			dup++
		}
	}
	if missing > 0 || dup > 0 || len(got) != crashLines {
		t.Fatalf("sink has %d lines for %d input lines: %d missing, %d duplicated", len(got), crashLines, missing, dup)
	}
}

// killRepeatedly runs braid with args (its data in dataDir) n times and
// SIGKILLs each run: the first in the middle of its start-up, once the
// embedded JetStream has created its store; each other once progress() (of
// total) has passed a random point around its part of the first share of
// total (k/n of it for the k-th) and moved during the run, so every kill
// lands while the run works however fast it works. It logs what progress
// says after each kill, in unit.
func killRepeatedly(t *testing.T, bin, dataDir string, args []string, n, total int, share float64, unit string, progress func() int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for kill := 0; kill < n; kill++ {
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() }) // when a wait below fails
		began, from := time.Now(), progress()
		if kill == 0 {
			waitFor(t, "the first run's JetStream store", func() bool {
				_, err := os.Stat(filepath.Join(dataDir, "jetstream"))
				return err == nil
			})
		} else {
			part := int(float64(total) * share / float64(n))
			target := max(part*(2*kill-1)/2+rng.IntN(max(part, 1)), from+1)
			waitFor(t, fmt.Sprintf("run %d to have %d %s", kill+1, target, unit), func() bool { return progress() >= target })
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Logf("killed run %d after %s; %d of %d %s so far", kill+1, time.Since(began).Round(time.Millisecond), progress(), total, unit)
	}
}

// sinkBytes is the size of every finished sink file: a cheap count of
// fixed-length lines.
func sinkBytes(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			n += int(info.Size())
		}
	}
	return n
}

// readSinkLines reads every finished (not hidden, not temporary) sink file.
func readSinkLines(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}
