package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// freeLoopbackPort returns a port nothing listens on at the moment.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBraidKafka starts `braid run` serving Kafka on addr and waits until
// a Kafka client gets an answer.
func startBraidKafka(t *testing.T, bin, dir, pipeline, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "run", "-f", pipeline, "--data-dir", filepath.Join(dir, "data"), "--http", "", "--kafka", addr)
	logf, err := os.OpenFile(filepath.Join(dir, "braid.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := cl.Ping(ctx)
		cancel()
		if err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "braid.log"))
			t.Fatalf("braid run did not serve Kafka on %s in 60 s: %v\n%s", addr, err, log)
		}
		time.Sleep(100 * time.Millisecond) // retry interval, bounded by the deadline
	}
}

// TestKafkaGroupResumesAfterSIGKILL: a Kafka consumer group commits what it
// processed, braid run is killed with SIGKILL, and the group's next session
// on the restarted worker reads exactly the records it had not committed:
// nothing lost, nothing read twice.
func TestKafkaGroupResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary; skipped with -short")
	}
	bin := buildBraid(t)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(pipeline, []byte("version: 1\nname: kcrash\ntopics:\n  kc: { partitions: 3 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	braid := startBraidKafka(t, bin, dir, pipeline, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 3000
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("kc"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "%d", i%50), Value: fmt.Appendf(nil, "r-%05d", i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()

	group := func() *kgo.Client {
		c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("kcrash-readers"), kgo.ConsumeTopics("kc"),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(6*time.Second), kgo.FetchMaxBytes(16<<10), kgo.FetchMaxPartitionBytes(4<<10))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	seen := map[string]int{}
	c := group()
	for len(seen) < 1200 {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("first session read %d records: %v", len(seen), ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		recs := fs.Records()
		for _, r := range recs {
			seen[string(r.Value)]++
		}
		if err := c.CommitRecords(ctx, recs...); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	first := len(seen)
	if err := braid.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = braid.Process.Wait()
	c.Close() // its leave goes nowhere: the coordinator died with the worker

	startBraidKafka(t, bin, dir, pipeline, addr)
	c = group()
	defer c.Close()
	for len(seen) < n {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after the restart: %d of %d distinct records: %v", len(seen), n, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	var twice []string
	for v, k := range seen {
		if k != 1 {
			twice = append(twice, v)
		}
	}
	sort.Strings(twice)
	if len(twice) > 0 {
		t.Fatalf("%d records read more than once across the kill (first session read %d): %v", len(twice), first, twice[:min(5, len(twice))])
	}
	for i := range n {
		if seen[fmt.Sprintf("r-%05d", i)] != 1 {
			t.Fatalf("record r-%05d read %d times", i, seen[fmt.Sprintf("r-%05d", i)])
		}
	}
}
