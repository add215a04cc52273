package worker_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/worker"
)

// member is one worker of a cluster with its own connection.
type member struct {
	conn *natsd.Conn
	log  *log.Log
	w    *worker.Worker
}

func join(t *testing.T, conn *natsd.Conn, id, dir string) *member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(ctx, worker.Options{Log: lg, Plugins: sdk.Plugins{file.SourcePlugin(), file.SinkPlugin()},
		WorkerID: id, DataDir: filepath.Join(dir, id), RestartBackoff: 50 * time.Millisecond,
		LeaseTTL: 1500 * time.Millisecond, LeaseRefresh: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &member{conn: conn, log: lg, w: w}
}

func (m *member) running(t *testing.T, names ...string) int {
	n := 0
	for _, name := range names {
		st, err := m.w.Status(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range st.Tasks {
			if ts.State == worker.StateRunning {
				n++
			}
		}
	}
	return n
}

// Two workers on one NATS server split the tasks of the same connectors, and
// when one stops the other takes its tasks over without losing or repeating
// a record.
func TestWorkersShareTasksAndFailOver(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, err := natsd.Start(ctx, natsd.Config{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	conn2, err := natsd.Start(ctx, natsd.Config{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(context.Background())
	a := join(t, srv, "worker-a", dir)
	b := join(t, conn2, "worker-b", dir)
	defer b.w.Close(context.Background())

	in := filepath.Join(dir, "in.jsonl")
	writeLines(t, in, 0, 2000)
	if err := a.log.CreateTopic(ctx, "shared", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	src := fileSource("in", in, "shared")
	src.Config["follow"] = true
	src.Config["poll.interval"] = "20ms"
	src.Pipeline = "cluster"
	sink := fileSink("out", filepath.Join(dir, "out"), "shared")
	sink.Tasks = 3
	sink.Pipeline = "cluster"
	for _, m := range []*member{a, b} {
		for _, c := range []worker.ConnectorConfig{src, sink} {
			if err := m.w.Put(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ra, rb := a.running(t, "in", "out"), b.running(t, "in", "out")
		if ra+rb == 4 && ra >= 1 && rb >= 1 && len(readOut(t, filepath.Join(dir, "out"))) == 2000 {
			t.Logf("tasks running: worker-a %d, worker-b %d", ra, rb)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not shared: worker-a runs %d, worker-b %d; sink has %d records", ra, rb, len(readOut(t, filepath.Join(dir, "out"))))
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkExactly(t, readOut(t, filepath.Join(dir, "out")), func(int) bool { return true }, 2000)

	// worker-a leaves; worker-b runs everything and nothing is lost or repeated.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := a.w.Close(cctx); err != nil {
		t.Fatal(err)
	}
	writeLines(t, in, 2000, 4000)
	deadline = time.Now().Add(30 * time.Second)
	for b.running(t, "in", "out") != 4 || len(readOut(t, filepath.Join(dir, "out"))) < 4000 {
		if time.Now().After(deadline) {
			t.Fatalf("worker-b runs %d tasks, sink has %d records", b.running(t, "in", "out"), len(readOut(t, filepath.Join(dir, "out"))))
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkExactly(t, readOut(t, filepath.Join(dir, "out")), func(int) bool { return true }, 4000)
}

// A connector put on one worker runs on the others too, and deleting it on
// any worker removes it everywhere.
func TestConfigChangesReachEveryWorker(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, err := natsd.Start(ctx, natsd.Config{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	conn2, err := natsd.Start(ctx, natsd.Config{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(context.Background())
	a := join(t, srv, "worker-a", dir)
	defer a.w.Close(context.Background())
	b := join(t, conn2, "worker-b", dir)
	defer b.w.Close(context.Background())

	in := filepath.Join(dir, "in.jsonl")
	writeLines(t, in, 0, 10)
	src := fileSource("from-a", in, "spread")
	if err := a.w.Put(ctx, src); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "worker-b to run the connector put on worker-a", func() bool {
		_, err := b.w.Status("from-a")
		return err == nil
	})
	if err := b.w.Delete(ctx, "from-a"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "worker-a to drop the connector deleted on worker-b", func() bool {
		_, err := a.w.Status("from-a")
		return err != nil
	})
}

// waitUntil polls cond until it holds, failing after 20 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, with the deadline above
	}
}
