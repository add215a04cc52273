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

// cluster starts an embedded server that listens on loopback and two
// workers on it, each with its own connection; all stop when the test ends.
func cluster(t *testing.T, dir string) (a, b *member) {
	t.Helper()
	ctx := context.Background()
	srv, err := natsd.Start(ctx, natsd.Config{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	conn2, err := natsd.Start(ctx, natsd.Config{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn2.Close(context.Background()) })
	a, b = join(t, srv, "worker-a", dir), join(t, conn2, "worker-b", dir)
	// Cleanups run last-in first-out: the workers stop before their connections.
	t.Cleanup(func() { _ = a.w.Close(context.Background()); _ = b.w.Close(context.Background()) })
	return a, b
}

func (m *member) running(t *testing.T, names ...string) int {
	n := 0
	for _, name := range names {
		st, err := m.w.Status(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range st.Tasks {
			if ts.State == worker.StateRunning && ts.WorkerID == m.w.ID() {
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
	a, b := cluster(t, dir)

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
	waitUntil(t, "both workers to run tasks and the sink to have 2000 records", func() bool {
		ra, rb := a.running(t, "in", "out"), b.running(t, "in", "out")
		return ra+rb == 4 && ra >= 1 && rb >= 1 && len(readOut(t, filepath.Join(dir, "out"))) == 2000
	})
	checkExactly(t, readOut(t, filepath.Join(dir, "out")), func(int) bool { return true }, 2000)

	// worker-a leaves; worker-b runs everything and nothing is lost or repeated.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := a.w.Close(cctx); err != nil {
		t.Fatal(err)
	}
	writeLines(t, in, 2000, 4000)
	waitUntil(t, "worker-b to run all 4 tasks and the sink to have 4000 records", func() bool {
		return b.running(t, "in", "out") == 4 && len(readOut(t, filepath.Join(dir, "out"))) >= 4000
	})
	checkExactly(t, readOut(t, filepath.Join(dir, "out")), func(int) bool { return true }, 4000)
}

// A connector put on one worker runs on the others too, and deleting it on
// any worker removes it everywhere.
func TestConfigChangesReachEveryWorker(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, b := cluster(t, dir)

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

// waitUntil polls cond until it holds, failing after 30 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, with the deadline above
	}
}
