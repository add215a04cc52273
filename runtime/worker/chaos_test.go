package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/generator"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/internal/natstest"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/log/logtest"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/worker"
)

// The chaos suite: a 3-node JetStream cluster on loopback, two or three
// workers, faults injected while a generator → R3 topic (3 partitions) →
// file sink (3 tasks) pipeline runs, and at the end an exact check that the
// sink holds every record exactly once. Each scenario also reports the
// longest time the sink made no progress (the stall the fault caused).

const chaosTopic = "chaos"

// chaosWorker is one worker of the chaos cluster, with its own connection.
type chaosWorker struct {
	id   string
	conn *natsd.Conn
	log  *log.Log
	w    *worker.Worker
	once sync.Once
}

func joinChaos(t *testing.T, c *natstest.Cluster, id, dir string) *chaosWorker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{URL: c.URLs(), Name: id})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := log.Open(ctx, conn, log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(ctx, worker.Options{Log: lg, WorkerID: id, DataDir: filepath.Join(dir, id), Logger: chaosLogger(id),
		Plugins:        sdk.Plugins{generator.Plugin(), file.SinkPlugin()},
		RestartBackoff: 100 * time.Millisecond, RestartMaxBackoff: time.Second,
		LeaseTTL: 4 * time.Second, LeaseRefresh: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := &chaosWorker{id: id, conn: conn, log: lg, w: w}
	t.Cleanup(m.stop)
	return m
}

// stop shuts the worker down gracefully (a rolling upgrade's step).
func (m *chaosWorker) stop() {
	m.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = m.w.Close(ctx)
		_ = m.log.Close()
		_ = m.conn.Close(ctx)
	})
}

// crash cuts the worker off at once, as kill -9 does: its connection closes
// first, so nothing it does afterwards reaches the log.
func (m *chaosWorker) crash() {
	m.once.Do(func() {
		m.conn.NC.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.w.Close(ctx)
		_ = m.log.Close()
	})
}

// chaosPipeline is the generator → topic → file sink pipeline.
func chaosPipeline(n int, rate float64, out string) (src, sink worker.ConnectorConfig) {
	src = worker.ConnectorConfig{Name: "gen", Pipeline: "chaos", Kind: sdk.KindSource, Plugin: "generator", Topic: chaosTopic,
		Config: map[string]any{"count": n, "rate": rate, "template": `{"id":{{.N}}}`, "batch.size": 50, "size": 200}}
	sink = worker.ConnectorConfig{Name: "out", Pipeline: "chaos", Kind: sdk.KindSink, Plugin: "file", Topics: []string{chaosTopic},
		Tasks: 3, Config: map[string]any{"path": out, "format": "jsonl"}}
	return src, sink
}

func createChaosTopic(t *testing.T, lg *log.Log, cfg log.TopicConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg.Partitions, cfg.Replicas = 3, 3
	if err := lg.CreateTopic(ctx, chaosTopic, cfg); err != nil {
		t.Fatal(err)
	}
}

// progress samples the sink's record count and remembers the longest time
// it did not grow while records were still missing.
type progress struct {
	t     *testing.T
	out   string
	mu    sync.Mutex
	count int
	since time.Time
	stall time.Duration
	stop  chan struct{}
	done  chan struct{}
}

func watchProgress(t *testing.T, out string, n int) *progress {
	p := &progress{t: t, out: out, since: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			c := countLines(out)
			p.mu.Lock()
			now := time.Now()
			if c != p.count || c >= n {
				p.count, p.since = c, now
			} else if d := now.Sub(p.since); d > p.stall {
				p.stall = d
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *progress) current() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// finish stops sampling and returns the longest stall.
func (p *progress) finish() time.Duration {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stall
}

func countLines(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	n := 0
	for _, f := range files {
		n += lineCount(f)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, with the deadline above
	}
}

// checkOnce checks that the sink holds ids 1..n exactly once, naming the
// missing and repeated ranges when it does not.
func checkOnce(t *testing.T, out string, n int) {
	t.Helper()
	ids := readOut(t, out)
	seen := make(map[int]int, len(ids))
	for _, id := range ids {
		seen[id]++
	}
	var missing, dups []int
	for i := 1; i <= n; i++ {
		switch seen[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dups = append(dups, i)
		}
	}
	extra := len(ids) - n
	if len(missing) > 0 || len(dups) > 0 || extra != 0 {
		t.Fatalf("sink has %d records for %d: missing %s; repeated %s", len(ids), n, ranges(missing), ranges(dups))
	}
}

func ranges(ids []int) string {
	if len(ids) == 0 {
		return "none"
	}
	sort.Ints(ids)
	var parts []string
	start := ids[0]
	for i := 1; i <= len(ids); i++ {
		if i == len(ids) || ids[i] != ids[i-1]+1 {
			if start == ids[i-1] {
				parts = append(parts, fmt.Sprint(start))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", start, ids[i-1]))
			}
			if i < len(ids) {
				start = ids[i]
			}
		}
	}
	if len(parts) > 10 {
		parts = append(parts[:10], fmt.Sprintf("… (%d ranges)", len(parts)))
	}
	return strings.Join(parts, ", ")
}

// waitAll waits until the sink has n records, then until every record in
// the topic is committed, and checks exactly-once.
func waitAll(t *testing.T, m *chaosWorker, out string, n int, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("the sink to hold %d records", n), func() bool { return countLines(out) >= n })
	waitFor(t, 30*time.Second, "the sink's group to commit the whole topic", func() bool { return caughtUp(m) })
	checkOnce(t, out, n)
	checkDense(t, m)
}

// checkDense checks every partition's offsets are exactly 0..end-1 after
// the faults: none repeated, skipped or backwards.
func checkDense(t *testing.T, m *chaosWorker) {
	t.Helper()
	logtest.CheckDense(t, m.log, chaosTopic, nil)
}

func caughtUp(m *chaosWorker) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg, err := m.w.Config("out")
	if err != nil {
		return false
	}
	info, err := m.log.Topic(ctx, chaosTopic)
	if err != nil {
		return false
	}
	committed, err := m.log.CommittedOffsets(ctx, cfg.Group, chaosTopic)
	if err != nil {
		return false
	}
	for _, p := range info.Partitions {
		if c, ok := committed[p.Partition]; p.EndOffset > 0 && (!ok || c < p.EndOffset-1) {
			return false
		}
	}
	return true
}

type chaosEnv struct {
	c       *natstest.Cluster
	workers []*chaosWorker
	out     string
	dir     string
}

// startChaos starts the cluster and workers, creates the topic and puts the
// pipeline on the first worker (the others learn it from the cluster).
func startChaos(t *testing.T, workers, n int, rate float64, topic log.TopicConfig) *chaosEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos suite: not in -short")
	}
	e := &chaosEnv{c: natstest.Start(t, 3), dir: t.TempDir()}
	e.out = filepath.Join(e.dir, "out")
	for i := range workers {
		e.workers = append(e.workers, joinChaos(t, e.c, fmt.Sprintf("w%d", i+1), e.dir))
	}
	createChaosTopic(t, e.workers[0].log, topic)
	src, sink := chaosPipeline(n, rate, e.out)
	ctx := context.Background()
	for _, cfg := range []worker.ConnectorConfig{sink, src} {
		if err := e.workers[0].w.Put(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// Killing the leader of the topic's stream mid-stream loses and repeats
// nothing: the source's write fails or goes unanswered, the task is BLOCKED
// until a new leader is elected, and the same batch is written again.
func TestChaosKillStreamLeader(t *testing.T) {
	const n = 12000
	e := startChaos(t, 2, n, 1500, log.TopicConfig{})
	p := watchProgress(t, e.out, n)
	waitFor(t, 30*time.Second, "2,000 records at the sink", func() bool { return p.current() >= 2000 })
	leader := e.c.WaitStreamLeader(log.StreamName(chaosTopic))
	e.c.Stop(leader)
	waitFor(t, 30*time.Second, "a new stream leader", func() bool {
		i := e.c.StreamLeader(log.StreamName(chaosTopic))
		return i >= 0 && i != leader
	})
	e.c.Restart(leader)
	waitAll(t, e.workers[0], e.out, n, 90*time.Second)
	t.Logf("stall after killing the stream leader: %s", p.finish().Round(100*time.Millisecond))
}

// A rolling restart of NATS (each node in lame-duck mode, then back) loses
// and repeats nothing.
func TestChaosRollingRestartOfNATS(t *testing.T) {
	const n = 15000
	e := startChaos(t, 2, n, 1500, log.TopicConfig{})
	p := watchProgress(t, e.out, n)
	waitFor(t, 30*time.Second, "1,000 records at the sink", func() bool { return p.current() >= 1000 })
	for i := range e.c.Size() {
		e.c.LameDuck(i)
		e.c.Restart(i)
		e.c.WaitReady()
	}
	waitAll(t, e.workers[0], e.out, n, 90*time.Second)
	t.Logf("longest stall during a rolling restart of NATS: %s", p.finish().Round(100*time.Millisecond))
}

// A rolling restart of Braid (each worker stopped and started again) loses
// and repeats nothing, and no stall lasts 10 s.
func TestChaosRollingRestartOfWorkers(t *testing.T) {
	const n = 12000
	e := startChaos(t, 2, n, 1500, log.TopicConfig{})
	p := watchProgress(t, e.out, n)
	waitFor(t, 30*time.Second, "1,000 records at the sink", func() bool { return p.current() >= 1000 })
	for i, m := range e.workers {
		m.stop()
		e.workers[i] = joinChaos(t, e.c, m.id, e.dir)
		waitFor(t, 30*time.Second, "the restarted worker to learn the pipeline", func() bool {
			_, err := e.workers[i].w.Status("gen")
			return err == nil
		})
	}
	waitAll(t, e.workers[0], e.out, n, 90*time.Second)
	if stall := p.finish(); stall >= 10*time.Second {
		t.Fatalf("the sink stalled %s during a rolling restart of the workers", stall)
	} else {
		t.Logf("longest stall during a rolling restart of the workers: %s", stall.Round(100*time.Millisecond))
	}
}

// A worker killed mid-stream has its tasks taken over in under 10 s, and
// nothing is lost or repeated.
func TestChaosKillWorker(t *testing.T) {
	const n = 10000
	e := startChaos(t, 2, n, 1500, log.TopicConfig{})
	p := watchProgress(t, e.out, n)
	waitFor(t, 30*time.Second, "both workers to run tasks", func() bool {
		return chaosRunning(e.workers[0]) > 0 && chaosRunning(e.workers[1]) > 0 && p.current() > 1000
	})
	e.workers[0].crash()
	killed := time.Now()
	waitFor(t, 10*time.Second, "the surviving worker to run all 4 tasks", func() bool { return chaosRunning(e.workers[1]) == 4 })
	t.Logf("tasks moved %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	waitAll(t, e.workers[1], e.out, n, 90*time.Second)
	t.Logf("stall after killing a worker: %s", p.finish().Round(100*time.Millisecond))
}

func chaosRunning(m *chaosWorker) int {
	n := 0
	for _, name := range []string{"gen", "out"} {
		st, err := m.w.Status(name)
		if err != nil {
			continue
		}
		for _, ts := range st.Tasks {
			if ts.State == worker.StateRunning && ts.WorkerID == m.id {
				n++
			}
		}
	}
	return n
}

// A full topic (discard: reject) blocks its source visibly — BLOCKED with
// "topic full" in its status — instead of dropping a range of records; when
// the topic is given room the source resumes and nothing is lost.
func TestChaosFullTopicBlocksThenResumes(t *testing.T) {
	const n = 6000
	e := startChaos(t, 1, n, 0, log.TopicConfig{MaxBytes: 256 << 10, Discard: log.DiscardReject, Compression: "none"})
	m := e.workers[0]
	waitFor(t, 60*time.Second, "the source to be BLOCKED by the full topic", func() bool {
		st, err := m.w.Status("gen")
		return err == nil && len(st.Tasks) == 1 && st.Tasks[0].State == worker.StateBlocked &&
			strings.Contains(st.Tasks[0].Trace, "topic full")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.log.EnsureTopic(ctx, chaosTopic, log.TopicConfig{Partitions: 3, Replicas: 3, MaxBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, m, e.out, n, 60*time.Second)
	st, _ := m.w.Status("gen")
	if st.Tasks[0].State != worker.StateRunning {
		t.Fatalf("source is %s after the topic got room: %s", st.Tasks[0].State, st.Tasks[0].Trace)
	}
}

// Two workers starting together with the same pipeline (both putting it)
// run each task once: nothing lost, nothing repeated.
func TestChaosColdStartTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos suite: not in -short")
	}
	const n = 8000
	c := natstest.Start(t, 3)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	a, b := joinChaos(t, c, "w1", dir), joinChaos(t, c, "w2", dir)
	createChaosTopic(t, a.log, log.TopicConfig{})
	src, sink := chaosPipeline(n, 2000, out)
	var wg sync.WaitGroup
	for _, m := range []*chaosWorker{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, cfg := range []worker.ConnectorConfig{sink, src} {
				if err := m.w.Put(context.Background(), cfg); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	waitAll(t, a, out, n, 90*time.Second)
}

func lineCount(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte("\n"))
}

// Pause, stop, restart and resume asked of the worker that does not run
// the source task act on the worker that does; offsets may change only
// once no worker runs a task; and nothing is lost or repeated.
func TestChaosControlFromTheOtherWorker(t *testing.T) {
	const n = 9000
	e := startChaos(t, 2, n, 1500, log.TopicConfig{})
	ctx := context.Background()
	var owner, other *chaosWorker
	waitFor(t, 30*time.Second, "the source task to run on a worker", func() bool {
		st, err := e.workers[0].w.Status("gen")
		if err != nil || st.Tasks[0].State != worker.StateRunning {
			return false
		}
		for i, m := range e.workers {
			if m.id == st.Tasks[0].WorkerID {
				owner, other = m, e.workers[1-i]
			}
		}
		return owner != nil
	})
	state := func(m *chaosWorker) worker.State {
		st, err := m.w.Status("gen")
		if err != nil {
			return ""
		}
		return st.Tasks[0].State
	}
	if err := other.w.Pause(ctx, "gen"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the source to be PAUSED as seen from both workers", func() bool {
		return state(owner) == worker.StatePaused && state(other) == worker.StatePaused
	})
	paused := countLines(e.out)
	if paused >= n {
		t.Fatalf("the sink already has all %d records; pause came too late to test", n)
	}
	if err := other.w.RestartTask(ctx, "gen", 0); err != nil {
		t.Fatal(err)
	}
	if err := other.w.Stop(ctx, "gen"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*chaosWorker{other, owner} {
		waitFor(t, 15*time.Second, "the source to be STOPPED cluster-wide as "+m.id+" sees it", func() bool {
			ok, _, err := m.w.Stopped(ctx, "gen")
			return err == nil && ok
		})
	}
	if err := other.w.Resume(ctx, "gen"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, owner, e.out, n, 60*time.Second)
}

// chaosLogger logs warnings to stderr when BRAID_CHAOS_LOG is set.
func chaosLogger(id string) *slog.Logger {
	if os.Getenv("BRAID_CHAOS_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("worker", id)
}
