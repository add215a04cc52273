package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/socket"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

// A tcp source in front of a full topic stops reading its socket: the
// sender blocks in TCP, the task is BLOCKED with "topic full" and the
// source's buffer stays within buffer.bytes; with room again every line
// the sender wrote is in the topic exactly once.
func TestTCPSourcePushesBackOnFullTopic(t *testing.T) {
	e := start(t, t.TempDir(), socket.TCPPlugin())
	lg, w := e.log, e.w
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := lg.CreateTopic(ctx, "lines", log.TopicConfig{Partitions: 1, MaxBytes: 64 << 10,
		Discard: log.DiscardReject, Compression: "none"}); err != nil {
		t.Fatal(err)
	}
	const limit = 256 << 10
	addr := freeAddr(t)
	if err := w.Put(ctx, worker.ConnectorConfig{Name: "tcp", Kind: sdk.KindSource, Plugin: "tcp", Topic: "lines",
		Converter: worker.ConverterConfig{Type: "bytes"},
		Config:    map[string]any{"listen": addr, "buffer.bytes": limit}}); err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	waitUntil(t, "the tcp source to listen", func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	defer c.Close()
	const n = 100_000 // 10 MB: far more than the topic, the buffer and the sockets hold
	sent := make(chan error, 1)
	go func() {
		bw := bufio.NewWriter(c)
		for i := range n {
			fmt.Fprintf(bw, "%06d %s\n", i, strings.Repeat("l", 92))
		}
		sent <- bw.Flush()
	}()
	waitUntil(t, "the task to block on the full topic", func() bool {
		st, _ := w.Status("tcp")
		return len(st.Tasks) == 1 && st.Tasks[0].State == worker.StateBlocked && strings.Contains(st.Tasks[0].Trace, "topic full")
	})
	select {
	case err := <-sent:
		t.Fatalf("the sender wrote all %d lines (%v) into a full topic: TCP did not push back", n, err)
	case <-time.After(500 * time.Millisecond):
	}
	waitUntil(t, "the buffered_bytes gauge", func() bool {
		st, _ := w.Status("tcp")
		_, ok := st.Tasks[0].Gauges["buffered_bytes"]
		return ok
	})
	if st, _ := w.Status("tcp"); st.Tasks[0].Gauges["buffered_bytes"] > limit {
		t.Fatalf("buffered_bytes %v over buffer.bytes %d", st.Tasks[0].Gauges["buffered_bytes"], limit)
	}
	if err := lg.EnsureTopic(ctx, "lines", log.TopicConfig{Partitions: 1, MaxBytes: 256 << 20, Discard: log.DiscardReject}); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every line in the topic", func() bool {
		info, err := lg.Topic(ctx, "lines")
		return err == nil && info.Partitions[0].LastOffset >= n-1
	})
	r, err := lg.NewReader(ctx, "lines", 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := make([]bool, n)
	for got := 0; got < n; {
		recs, err := r.Fetch(ctx, 4096, 4<<20, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			var i int
			if _, err := fmt.Sscanf(string(rec.Value), "%06d", &i); err != nil || i >= n || seen[i] {
				t.Fatalf("offset %d: line %q is a duplicate or not one the sender wrote (%v)", rec.Offset, rec.Value, err)
			}
			seen[i] = true
			got++
		}
	}
	if info, _ := lg.Topic(ctx, "lines"); info.Partitions[0].LastOffset != n-1 {
		t.Fatalf("the topic holds offsets up to %d, want exactly %d lines", info.Partitions[0].LastOffset, n)
	}
}
