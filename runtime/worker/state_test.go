package worker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

// Connectors created through the API (Put) run again when the worker
// restarts on the same data dir: a worker starts what the cluster stores.
func TestStoredConnectorsRunAfterRestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir)
	ctx := context.Background()
	var want []string
	for i := range 20 {
		name := fmt.Sprintf("rest-%02d", i)
		want = append(want, name)
		if err := e.w.Put(ctx, fileSink(name, filepath.Join(dir, name), "stored")); err != nil {
			t.Fatal(err)
		}
	}
	e.stop(t)
	e = start(t, dir)
	got := e.w.Names()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a restart the worker runs %v, want %v", got, want)
	}
}

// Two pipelines with a connector of the same name keep their own source
// positions: the second one's reads its whole input instead of resuming
// where the first one stopped.
func TestPositionsAreKeyedByPipeline(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	writeLines(t, in, 0, 300)
	e := start(t, dir)
	ctx := context.Background()
	for _, p := range []string{"t1", "t2"} {
		src := fileSource("gen", in, "topic-"+p)
		src.Pipeline = p
		sink := fileSink("out-"+p, filepath.Join(dir, p), "topic-"+p)
		sink.Pipeline = p
		for _, c := range []worker.ConnectorConfig{src, sink} {
			if err := e.w.Put(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		waitIdle(t, e.w)
		checkExactly(t, readOut(t, filepath.Join(dir, p)), func(int) bool { return true }, 300)
		for _, name := range []string{"gen", "out-" + p} {
			if err := e.w.Delete(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Put, Delete, Restart, Pause and Resume racing on the same connectors
// leave no connector running outside the worker's map: at the end every
// connector the worker lists runs, and deleting them all stops every task
// (run with -race).
func TestConcurrentControlIsSafe(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "race", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				name := fmt.Sprintf("c%d", i%3)
				cfg := fileSink(name, filepath.Join(dir, name), "race")
				cfg.Tasks = 1 + (g+i)%2
				switch (g + i) % 5 {
				case 0, 1:
					_ = e.w.Put(ctx, cfg)
				case 2:
					_ = e.w.Delete(ctx, name)
				case 3:
					_ = e.w.Restart(ctx, name, false)
				case 4:
					_ = e.w.Pause(ctx, name)
					_ = e.w.Resume(ctx, name)
				}
			}
		}()
	}
	wg.Wait()
	for _, name := range []string{"c0", "c1", "c2"} {
		if err := e.w.Put(ctx, fileSink(name, filepath.Join(dir, name), "race")); err != nil {
			t.Fatal(err)
		}
		_ = e.w.Resume(ctx, name)
	}
	waitUntil(t, "every connector to run its task", func() bool {
		for _, name := range e.w.Names() {
			st, err := e.w.Status(name)
			if err != nil || len(st.Tasks) != 1 || st.Tasks[0].State != worker.StateRunning {
				return false
			}
		}
		return len(e.w.Names()) == 3
	})
	for _, name := range e.w.Names() {
		if err := e.w.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.w.Close(cctx); err != nil {
		t.Fatalf("close after the race: %v (a task kept running outside the map)", err)
	}
}
