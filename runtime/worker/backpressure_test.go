package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bhttp "github.com/braidhq/braid/connectors/http"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/worker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A webhook in front of a full topic pushes back: its requests answer 503
// with Retry-After (or 429 once too many wait), the task is BLOCKED with
// "topic full" and braid_task_blocked{reason="topic_full"} is 1; with room
// again it resumes and every record answered 200 is in the topic once.
func TestWebhookPushesBackOnFullTopic(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics := worker.NewMetrics(reg)
	w, err := worker.New(ctx, worker.Options{Log: lg, Plugins: sdk.Plugins{bhttp.WebhookPlugin()}, DataDir: dir,
		Metrics: metrics, RestartBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	if err := lg.CreateTopic(ctx, "hooks", log.TopicConfig{Partitions: 1, MaxBytes: 32 << 10,
		Discard: log.DiscardReject, Compression: "none"}); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	if err := w.Put(ctx, worker.ConnectorConfig{Name: "hook", Kind: sdk.KindSource, Plugin: "http-webhook", Topic: "hooks",
		Converter: worker.ConverterConfig{Type: "bytes"},
		Config:    map[string]any{"listen": addr, "ack_timeout": "500ms", "queue_size": 4}}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1000)
	post := func() int {
		resp, err := http.Post("http://"+addr+"/", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.Header.Get("Retry-After") == "" {
			t.Errorf("answer %d without Retry-After", resp.StatusCode)
		}
		return resp.StatusCode
	}
	waitUntil(t, "the webhook to listen", func() bool { return post() == http.StatusOK })
	stored := 1
	var refused int
	for range 200 {
		switch code := post(); code {
		case http.StatusOK:
			stored++
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			refused = code
		}
		if refused != 0 {
			break
		}
	}
	if refused == 0 {
		t.Fatalf("200 requests of 1 KB into a 32 KB topic were all accepted")
	}
	st, _ := w.Status("hook")
	if st.Tasks[0].State != worker.StateBlocked || !strings.Contains(st.Tasks[0].Trace, "topic full") {
		t.Fatalf("task is %s (%s), want BLOCKED: topic full", st.Tasks[0].State, st.Tasks[0].Trace)
	}
	if v := testutil.ToFloat64(metrics.Blocked.WithLabelValues("hook", "0", "topic_full")); v != 1 {
		t.Fatalf("braid_task_blocked{reason=topic_full} = %v, want 1", v)
	}
	if err := lg.EnsureTopic(ctx, "hooks", log.TopicConfig{Partitions: 1, MaxBytes: 32 << 20, Discard: log.DiscardReject}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the task to run again", func() bool {
		st, _ := w.Status("hook")
		return st.Tasks[0].State == worker.StateRunning
	})
	if code := post(); code != http.StatusOK {
		t.Fatalf("after the topic got room a request answered %d", code)
	}
	stored++
	info, err := lg.Topic(ctx, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	// Requests refused with 503 may still have been stored (the client
	// retries: at least once), so the topic holds at least every 200.
	n := countRecords(t, lg, "hooks", info.Partitions[0].LastOffset)
	if n < stored {
		t.Fatalf("topic holds %d records, but %d requests were answered 200", n, stored)
	}
	t.Logf("%d stored with 200, %d in the topic, refused with %d while full", stored, n, refused)
}

func countRecords(t *testing.T, lg *log.Log, topic string, last int64) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := lg.NewReader(ctx, topic, 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		recs, err := r.Fetch(ctx, 1000, 1<<20, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
		if len(recs) == 0 || recs[len(recs)-1].Offset >= last {
			return n
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr())
}

// A source that asks to back off (http-poll on 429 with Retry-After, an
// sdk.BackoffError) waits as asked instead of failing its task.
func TestSourceBackoffErrorPausesNotFails(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			rw.Header().Set("Retry-After", "1")
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`[{"id":1},{"id":2}]`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	metrics := worker.NewMetrics(nil)
	w, err := worker.New(ctx, worker.Options{Log: lg, Plugins: sdk.Plugins{bhttp.PollPlugin()}, DataDir: dir,
		Metrics: metrics, RestartBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	if err := w.Put(ctx, worker.ConnectorConfig{Name: "poll", Kind: sdk.KindSource, Plugin: "http-poll", Topic: "polled",
		Config: map[string]any{"url": srv.URL, "interval": "100ms"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := w.Status("poll")
		if len(st.Tasks) == 1 && st.Tasks[0].State == worker.StateFailed {
			t.Fatalf("the task failed on a 429 with Retry-After: %s", st.Tasks[0].Trace)
		}
		info, err := lg.Topic(ctx, "polled")
		if err == nil && info.Partitions[0].LastOffset >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no record polled after the server stopped answering 429")
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
	if n := testutil.ToFloat64(metrics.Errors.WithLabelValues("poll", "task")); n != 0 {
		t.Fatalf("the task failed %v times on 429s with Retry-After", n)
	}
	if n := calls.Load(); n < 3 {
		t.Fatalf("server saw %d requests, want the two 429s and a success", n)
	}
}
