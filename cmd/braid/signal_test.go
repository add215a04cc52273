package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestInterruptWhileStarting: SIGINT at each step of start-up (the log
// line of the step just done) stops `braid run` cleanly, with exit status
// 0: a signal is a shutdown, whatever step it cut short.
func TestInterruptWhileStarting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary; skipped with -short")
	}
	bin := buildBraid(t)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipeline, []byte(fmt.Sprintf(`version: 1
name: interrupted
topics:
  t: { partitions: 3 }
sources:
  gen: { connector: generator, topic: t, config: { rate: 100 } }
sinks:
  out: { connector: file, topics: [t], config: { path: %q, format: raw } }
`, filepath.Join(dir, "out"))), 0o644)
	for i, step := range []string{"memory budget", "embedded nats started", "topic created", "pipeline applied", "REST API listening"} {
		t.Run(step, func(t *testing.T) {
			cmd := exec.Command(bin, "run", "-f", pipeline, "--data-dir", filepath.Join(dir, fmt.Sprint("data", i)),
				"--http", "127.0.0.1:0", "--kafka", "127.0.0.1:0")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var log strings.Builder
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), `msg="`+step) {
					cmd.Process.Signal(syscall.SIGINT)
					break
				}
			}
			go func() {
				for sc.Scan() {
					mu.Lock()
					log.WriteString(sc.Text() + "\n")
					mu.Unlock()
				}
			}()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					mu.Lock()
					defer mu.Unlock()
					t.Fatalf("SIGINT after %q: %v\n%s", step, err, log.String())
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("SIGINT after %q: still running after 30s", step)
			}
		})
	}
}
