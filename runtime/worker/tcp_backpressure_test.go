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
	readNumbered(ctx, t, lg, n-1, n)
	if info, _ := lg.Topic(ctx, "lines"); info.Partitions[0].LastOffset != n-1 {
		t.Fatalf("the topic holds offsets up to %d, want exactly %d lines", info.Partitions[0].LastOffset, n)
	}
}

// A client that reconnects keeps sending across a restart of the worker:
// the restarted source listens again on its address and the lines sent
// after the reconnect arrive. Lines in flight when the worker stopped may
// be lost (at most once: TCP cannot replay), but none arrives twice.
func TestTCPClientReconnectsAfterWorkerRestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, socket.TCPPlugin())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addr := freeAddr(t)
	cfg := worker.ConnectorConfig{Name: "tcp", Kind: sdk.KindSource, Plugin: "tcp", Topic: "lines",
		Converter: worker.ConverterConfig{Type: "bytes"}, Config: map[string]any{"listen": addr}}
	if err := e.w.Put(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	sending, stopSending := context.WithCancel(ctx)
	sent := make(chan int, 1)
	go func() { // 100 lines at a time, reconnecting after any error
		var c net.Conn
		i := 0
		for sending.Err() == nil {
			if c == nil {
				var err error
				if c, err = net.DialTimeout("tcp", addr, time.Second); err != nil {
					c = nil
					time.Sleep(10 * time.Millisecond)
					continue
				}
			}
			var b strings.Builder
			for range 100 {
				fmt.Fprintf(&b, "%07d\n", i)
				i++
			}
			if _, err := c.Write([]byte(b.String())); err != nil {
				c.Close()
				c = nil
			}
			time.Sleep(time.Millisecond)
		}
		if c != nil {
			c.Close()
		}
		sent <- i
	}()
	last := func(lg *log.Log) int64 {
		info, err := lg.Topic(ctx, "lines")
		if err != nil {
			return -1
		}
		return info.Partitions[0].LastOffset
	}
	waitUntil(t, "lines before the restart", func() bool { return last(e.log) >= 1000 })
	e.stop(t)
	e = start(t, dir, socket.TCPPlugin())
	if err := e.w.Put(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	before := last(e.log)
	waitUntil(t, "lines after the client reconnected", func() bool { return last(e.log) >= before+1000 })
	stopSending()
	n := <-sent
	// The last lines the source read may still be on their way to the log:
	// poll until its end holds for three polls in a row (with a deadline).
	end := last(e.log)
	for same, limit := 0, time.Now().Add(30*time.Second); same < 3 && time.Now().Before(limit); {
		time.Sleep(100 * time.Millisecond) // polling interval
		if now := last(e.log); now == end {
			same++
		} else {
			same, end = 0, now
		}
	}
	seen := readNumbered(ctx, t, e.log, end, n)
	lost := 0
	for _, ok := range seen {
		if !ok {
			lost++
		}
	}
	t.Logf("sent %d lines, %d stored, %d not stored (lost at the restart, or sent last and still in flight)", n, int(end)+1, lost)
}

// readNumbered reads topic "lines" up to offset end, whose values start
// with a line number below n, and fails on a duplicate; it returns which
// numbers it saw.
func readNumbered(ctx context.Context, t *testing.T, lg *log.Log, end int64, n int) []bool {
	t.Helper()
	r, err := lg.NewReader(ctx, "lines", 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := make([]bool, n)
	for off := int64(-1); off < end; {
		recs, err := r.Fetch(ctx, 4096, 4<<20, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			var i int
			if _, err := fmt.Sscanf(string(rec.Value), "%d", &i); err != nil || i >= n || seen[i] {
				t.Fatalf("offset %d: line %q is a duplicate or was never sent (%v)", rec.Offset, rec.Value, err)
			}
			seen[i] = true
			off = rec.Offset
		}
	}
	return seen
}

// Syslog records reach a schema-aware converter as fields: the tcp source
// hands them encoded as JSON with their decoder, and a csv topic gets its
// columns, not the JSON.
func TestTCPSyslogIntoCSVTopic(t *testing.T) {
	e := start(t, t.TempDir(), socket.TCPPlugin())
	lg, w := e.log, e.w
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := freeAddr(t)
	if err := w.Put(ctx, worker.ConnectorConfig{Name: "syslog", Kind: sdk.KindSource, Plugin: "tcp", Topic: "lines",
		Converter: worker.ConverterConfig{Type: "csv", Options: map[string]any{"columns": []any{"host", "app", "severity", "message",
			"facility", "format", "msgid", "procid", "structured_data", "timestamp", "version"}}},
		Config: map[string]any{"listen": addr, "framing": "syslog"}}); err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	waitUntil(t, "the tcp source to listen", func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	defer c.Close()
	if _, err := c.Write([]byte("<165>1 2003-10-11T22:14:15.003Z h1 app1 - ID47 - first, quoted\n<34>Oct 11 22:14:15 h2 su: second\n")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both records in the topic", func() bool {
		info, err := lg.Topic(ctx, "lines")
		return err == nil && info.Partitions[0].LastOffset >= 1
	})
	r, err := lg.NewReader(ctx, "lines", 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := r.Fetch(ctx, 10, 1<<20, time.Second)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for i, want := range []string{"h1,app1,5,\"first, quoted\",20,rfc5424,ID47,,,2003-10-11T22:14:15.003Z,1", "h2,su,2,second,4,rfc3164,,,,"} {
		// (An RFC 3164 timestamp takes the current year.)
		if got := strings.TrimRight(string(recs[i].Value), "\r\n"); !strings.HasPrefix(got, want) {
			t.Errorf("record %d = %q, want %q", i, got, want)
		}
	}
}
