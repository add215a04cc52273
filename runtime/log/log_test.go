package log_test

import (
	"context"
	"testing"
	"time"

	"github.com/braidhq/braid/internal/natstest"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/log/logtest"
	"github.com/braidhq/braid/runtime/natsd"
)

// externalURL is the shared NATS JetStream server on this machine.
const externalURL = "nats://127.0.0.1:4222"

func openLog(t *testing.T, conn *natsd.Conn) *log.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := log.Open(ctx, conn, log.Options{})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	return l
}

func startEmbedded(t *testing.T, dir string) *natsd.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	return conn
}

func closeConn(t *testing.T, conn *natsd.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Close(ctx); err != nil {
		t.Errorf("close nats: %v", err)
	}
}

func TestAcceptanceEmbedded(t *testing.T) {
	dir := t.TempDir()
	conn := startEmbedded(t, dir)
	t.Cleanup(func() { closeConn(t, conn) })
	logtest.Run(t, logtest.Harness{
		ServerInProcess: true,
		Open:            func(t *testing.T) *log.Log { return openLog(t, conn) },
		Restart: func(t *testing.T) *log.Log {
			closeConn(t, conn)
			conn = startEmbedded(t, dir)
			return openLog(t, conn)
		},
	})
}

// The acceptance suite on a 3-node JetStream cluster, with topics and
// buckets at 3 replicas.
func TestAcceptanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster: not in -short")
	}
	c := natstest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{URL: c.URLs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeConn(t, conn) })
	logtest.Run(t, logtest.Harness{ServerInProcess: true, Open: func(t *testing.T) *log.Log {
		l := openLog(t, conn)
		if l.Replicas() != 3 {
			t.Fatalf("replicas on a 3-node cluster: %d, want 3", l.Replicas())
		}
		return l
	}})
}

func TestAcceptanceExternal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{URL: externalURL})
	if err != nil {
		t.Fatalf("external NATS at %s is required: %v", externalURL, err)
	}
	t.Cleanup(func() { closeConn(t, conn) })
	logtest.Run(t, logtest.Harness{Open: func(t *testing.T) *log.Log { return openLog(t, conn) }})
}
