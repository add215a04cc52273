package kafka

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testLog starts an embedded NATS server in a temporary directory and opens
// a log on it.
func testLog(t testing.TB) *log.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	l, err := log.Open(ctx, conn, log.Options{})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() {
		_ = l.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	})
	return l
}

// testServer serves the Kafka protocol on l at a free loopback port.
func testServer(t testing.TB, l *log.Log) *Server {
	t.Helper()
	s := New(l, Options{Addr: "127.0.0.1:0"})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client is a franz-go client of s.
func client(t testing.TB, s *Server, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Addr()), kgo.RetryTimeout(20 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var topicSeq atomic.Int64

// newTopic creates a topic with a unique name.
func newTopic(t testing.TB, l *log.Log, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("k%d_%d", time.Now().UnixNano()%1e9, topicSeq.Add(1))
	if err := l.CreateTopic(ctxT(t, 10*time.Second), name, log.TopicConfig{Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	return name
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
