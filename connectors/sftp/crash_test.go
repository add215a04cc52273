package sftp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/internal/remotefs/remotefstest"
)

// TestCrashSIGKILL copies files from the test's SFTP server into the log and
// out through a file sink with `braid run`, SIGKILLs the run at random
// moments while it reads (several files at once, mid-file), restarts it,
// and checks that every line reached the sink exactly once and that every
// file was deleted (after.read: delete) once the log had all of it.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and runs the binary; skipped with -short")
	}
	files, lines := 100, 10_000 // the issue's
	ts := startServer(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	for i := range files {
		var b bytes.Buffer
		for j := range lines {
			fmt.Fprintf(&b, "f%03d-l%05d\n", i, j)
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%03d.txt", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "braid")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/braidhq/braid/cmd/braid").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	pipeline := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
name: sftpcrash
topics:
  lines: { partitions: 2 }
sources:
  partner:
    connector: sftp
    topic: lines
    converter: { type: bytes }
    config:
      host: %s
      port: %d
      user: %s
      password: "${SFTP_TEST_PASSWORD}"
      host.key: %q
      path: %q
      stable.for: 0s
      poll.interval: 100ms
      max.downloads: 4
      batch.size: 500
      after.read: delete
sinks:
  out: { connector: file, topics: [lines], converter: { type: bytes }, config: { path: %q, format: raw } }
`, ts.host(), ts.port(), testUser, ts.fingerprint(), in, out)
	if err := os.WriteFile(pipeline, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	args := []string{"run", "-f", pipeline, "--data-dir", data, "--http", "", "--kafka", "off",
		"--watch=false", "--log-level", "info"}
	start := func() (*exec.Cmd, *syncBuffer) {
		cmd, log := exec.Command(bin, args...), &syncBuffer{}
		cmd.Env = append(os.Environ(), "SFTP_TEST_PASSWORD="+testPassword)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, log
	}
	var logs []*syncBuffer
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	// The first run dies in the middle of its start-up, once the embedded
	// JetStream has created its store; the others once the sink has passed
	// a random point around a fifth, two fifths and three fifths of the
	// lines and moved during the run (the sink grows a flush at a time), so
	// every kill lands while the source is reading, mid-file in several
	// files, however fast it reads.
	for kill := range 4 {
		cmd, log := start()
		logs = append(logs, log)
		t.Cleanup(func() { _ = cmd.Process.Kill() }) // when a wait below fails
		began, from := time.Now(), len(sinkLines(t, out))
		if kill == 0 {
			remotefstest.WaitFor(t, 20*time.Second, "the first run's JetStream store", func() bool {
				_, err := os.Stat(filepath.Join(data, "jetstream"))
				return err == nil
			})
		} else {
			target := max(files*lines*kill/5-files*lines/10+rng.IntN(files*lines/5), from+1)
			remotefstest.WaitFor(t, 60*time.Second, fmt.Sprintf("run %d to put %d lines in the sink", kill+1, target),
				func() bool { return len(sinkLines(t, out)) >= target })
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		left, _ := os.ReadDir(in)
		t.Logf("killed run %d after %s: %d lines in the sink, %d files not yet deleted", kill+1, time.Since(began).Round(time.Millisecond), len(sinkLines(t, out)), len(left))
	}
	cmd, log := start()
	logs = append(logs, log)
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		left, _ := os.ReadDir(in)
		got := sinkLines(t, out)
		if len(left) == 0 && len(got) >= files*lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d of %d lines in the sink, %d files left\nlast run's log:\n%s", len(got), files*lines, len(left), log.String())
		}
		time.Sleep(200 * time.Millisecond) // polling interval, with the deadline
	}
	// A duplicate, if any, may still be on its way: poll until the sink's
	// line count holds for three polls in a row (with a deadline).
	got := sinkLines(t, out)
	for same, limit := 0, time.Now().Add(30*time.Second); same < 3 && time.Now().Before(limit); {
		time.Sleep(200 * time.Millisecond) // polling interval
		if now := sinkLines(t, out); len(now) == len(got) {
			same++
		} else {
			same, got = 0, now
		}
	}
	seen := make(map[string]int, len(got))
	for _, l := range got {
		seen[l]++
	}
	var missing, dup int
	for i := range files {
		for j := range lines {
			switch seen[fmt.Sprintf("f%03d-l%05d", i, j)] {
			case 0:
				missing++
			case 1:
			default:
				dup++
			}
		}
	}
	if missing > 0 || dup > 0 || len(got) != files*lines {
		t.Fatalf("sink has %d lines for %d input lines: %d missing, %d duplicated", len(got), files*lines, missing, dup)
	}
	for i, l := range logs {
		if strings.Contains(l.String(), testPassword) {
			t.Fatalf("run %d logged the password", i+1)
		}
	}
}

func sinkLines(t *testing.T, dir string) []string {
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
