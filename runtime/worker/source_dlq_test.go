package worker_test

import (
	"context"
	"encoding/json"
	"errors"
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

// syslogLine is a good RFC 3164 message whose message field is msg.
func syslogLine(msg string) string { return "<13>Feb  5 17:32:18 h1 app[1]: " + msg }

// syslogSource is a socket source with framing syslog, max.length 256
// and on.invalid dead-letter, into topic "lines" as JSON.
func syslogSource(plugin, addr string, errs worker.ErrorPolicy) worker.ConnectorConfig {
	return worker.ConnectorConfig{Name: "syslog", Kind: sdk.KindSource, Plugin: plugin, Topic: "lines",
		Converter: worker.ConverterConfig{Type: "json"}, Errors: errs,
		Config: map[string]any{"listen": addr, "framing": "syslog", "max.length": 256, "on.invalid": "dead-letter"}}
}

// readExactly reads partition 0 of topic until it has n records, and fails
// if the partition holds any other number.
func readExactly(ctx context.Context, t *testing.T, lg *log.Log, topic string, n int) []log.Record {
	t.Helper()
	r, err := lg.NewReader(ctx, topic, 0, log.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []log.Record
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		recs, err := r.Fetch(ctx, 1000, 4<<20, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	info, err := lg.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != n || info.Partitions[0].LastOffset != int64(n-1) {
		t.Fatalf("topic %s: read %d records, last offset %d; want exactly %d", topic, len(out), info.Partitions[0].LastOffset, n)
	}
	return out
}

// messages returns the syslog message field of each record's JSON value.
func messages(t *testing.T, recs []log.Record) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		var f struct{ Message string }
		if err := json.Unmarshal(r.Value, &f); err != nil {
			t.Fatalf("offset %d: value %q: %v", r.Offset, r.Value, err)
		}
		out[i] = f.Message
	}
	return out
}

func headers(r log.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = x.Value
	}
	return h
}

// checkSourceDeadLetter checks a dead letter of stage source: its bytes,
// the sender's headers, and an error that names the sender and says what.
func checkSourceDeadLetter(t *testing.T, d log.Record, value string, sender net.Addr, says ...string) {
	t.Helper()
	h := headers(d)
	host, port, _ := net.SplitHostPort(sender.String())
	if string(d.Value) != value {
		t.Errorf("dead letter value %q, want %q", d.Value, value)
	}
	if h[worker.HeaderDLQStage] != worker.StageSource || h[worker.HeaderDLQConnector] != "syslog" || h[worker.HeaderDLQPosition] == "" ||
		h[socket.HeaderPeerAddress] != host || h[socket.HeaderPeerPort] != port {
		t.Errorf("dead letter headers %v: want stage source, connector syslog, a position and peer %s", h, sender)
	}
	if _, ok := h[worker.HeaderDLQTopic]; ok {
		t.Errorf("a source's dead letter names a topic it never was in: %v", h)
	}
	for _, s := range append(says, "invalid", "from "+sender.String()) {
		if !strings.Contains(h[worker.HeaderDLQError], s) {
			t.Errorf("dead letter error %q does not say %q", h[worker.HeaderDLQError], s)
		}
	}
}

// dialUntil connects to a source that is starting.
func dialUntil(t *testing.T, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	waitUntil(t, "the tcp source to listen", func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// With on.invalid dead-letter and tolerance all, a tcp source's unparsable
// and over-long frames go to the dead-letter topic once each, with stage
// source, the error and the sender; every good line is in the topic once;
// and the position commits past a dead letter that is the last frame read.
func TestTCPSourceDeadLettersInvalidFrames(t *testing.T) {
	e := start(t, t.TempDir(), socket.TCPPlugin())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addr := freeAddr(t)
	cfg := syslogSource("tcp", addr, worker.ErrorPolicy{Tolerance: worker.ToleranceAll, DeadLetterTopic: "lines-dlq"})
	if err := e.w.Put(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c := dialUntil(t, addr)
	const n = 50
	long := syslogLine(strings.Repeat("x", 1000))
	var b strings.Builder
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("good %d", i))
		b.WriteString(syslogLine(want[i]) + "\n")
		switch i {
		case 10:
			b.WriteString("not syslog at all\n")
		case 30:
			b.WriteString(long + "\n")
		}
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	// A dead letter is stored before the batch it was read with: once the
	// last good line is in the topic, both are in the dead-letter topic.
	waitUntil(t, "every good line in the topic", func() bool {
		info, err := e.log.Topic(ctx, "lines")
		return err == nil && info.Partitions[0].LastOffset >= n-1
	})
	if got := messages(t, readExactly(ctx, t, e.log, "lines", n)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("topic holds %q, want %q", got, want)
	}
	// The last frame read is a bad one: its position still commits.
	if _, err := c.Write([]byte("trailing garbage\n")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "three dead letters", func() bool {
		info, err := e.log.Topic(ctx, "lines-dlq")
		return err == nil && info.Partitions[0].LastOffset >= 2
	})
	dead := readExactly(ctx, t, e.log, "lines-dlq", 3)
	from := c.LocalAddr()
	checkSourceDeadLetter(t, dead[0], "not syslog at all", from, "syslog: ")
	checkSourceDeadLetter(t, dead[1], long[:256], from, fmt.Sprintf("frame of %d bytes is longer than max.length 256", len(long)),
		"its first 256 bytes")
	checkSourceDeadLetter(t, dead[2], "trailing garbage", from, "syslog: ")
	if st, _ := e.w.Status("syslog"); st.Tasks[0].State != worker.StateRunning {
		t.Fatalf("task %s (%s) after dead letters with tolerance all, want RUNNING", st.Tasks[0].State, st.Tasks[0].Trace)
	}
	if err := e.w.Stop(ctx, "syslog"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the connector to stop", func() bool {
		ok, _, err := e.w.Stopped(ctx, "syslog")
		return err == nil && ok
	})
	pos, err := e.w.SourcePositions(ctx, cfg)
	if err != nil || len(pos) != 1 || string(pos[0].Position) != headers(dead[2])[worker.HeaderDLQPosition] {
		t.Fatalf("committed positions %+v (%v), want the last dead letter's %q", pos, err, headers(dead[2])[worker.HeaderDLQPosition])
	}
}

// With tolerance none a dead-lettered frame fails the task, with the error
// and the sender in its status, and nothing of it is stored.
func TestTCPSourceInvalidFrameFailsTaskWithToleranceNone(t *testing.T) {
	e := start(t, t.TempDir(), socket.TCPPlugin())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := freeAddr(t)
	if err := e.w.Put(ctx, syslogSource("tcp", addr, worker.ErrorPolicy{})); err != nil {
		t.Fatal(err)
	}
	c := dialUntil(t, addr)
	if _, err := c.Write([]byte("not syslog at all\n")); err != nil {
		t.Fatal(err)
	}
	var st worker.ConnectorStatus
	waitUntil(t, "the task to fail on the invalid frame", func() bool {
		st, _ = e.w.Status("syslog")
		if len(st.Tasks) == 1 && st.Tasks[0].State == worker.StateFailed {
			return true
		}
		// The task restarts after 50 ms and TCP cannot replay: a
		// restarted task gets the bad frame again on a new connection,
		// until the poll sees it FAILED.
		if c2, err := net.Dial("tcp", addr); err == nil {
			_, _ = c2.Write([]byte("not syslog at all\n"))
			c2.Close()
		}
		return false
	})
	trace := st.Tasks[0].Trace
	for _, s := range []string{"source failed for source position", "tcp: invalid frame from 127.0.0.1:", "syslog: "} {
		if !strings.Contains(trace, s) {
			t.Errorf("trace %q does not say %q", trace, s)
		}
	}
	if info, err := e.log.Topic(ctx, "lines"); err != nil || info.Partitions[0].LastOffset != -1 {
		t.Fatalf("topic lines: %+v %v; want nothing stored", info, err)
	}
	if _, err := e.log.Topic(ctx, "syslog-dlq"); err == nil {
		t.Fatal("a dead-letter topic was made with tolerance none")
	}
}

// A udp source's unparsable datagram goes to the dead-letter topic once,
// with stage source, the error and the sender.
func TestUDPSourceDeadLettersInvalidDatagram(t *testing.T) {
	e := start(t, t.TempDir(), socket.UDPPlugin())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	if err := e.w.Put(ctx, syslogSource("udp", addr, worker.ErrorPolicy{Tolerance: worker.ToleranceAll, DeadLetterTopic: "lines-dlq"})); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// UDP says nothing of a listener: probe until one probe is stored.
	probes := 0
	waitUntil(t, "the udp source to listen", func() bool {
		if info, err := e.log.Topic(ctx, "lines"); err == nil && info.Partitions[0].LastOffset >= 0 {
			return true
		}
		_, _ = c.Write([]byte(syslogLine("probe")))
		return false
	})
	for _, d := range []string{syslogLine("first"), "not syslog", syslogLine("last")} {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the last datagram in the topic", func() bool {
		r, err := e.log.NewReader(ctx, "lines", 0, log.Earliest)
		if err != nil {
			return false
		}
		defer r.Close()
		var recs []log.Record
		for {
			more, err := r.Fetch(ctx, 10_000, 4<<20, 100*time.Millisecond)
			if err != nil || len(more) == 0 {
				break
			}
			recs = append(recs, more...)
		}
		got := messages(t, recs)
		probes = len(got) - 2
		return len(got) >= 3 && got[len(got)-1] == "last"
	})
	got := messages(t, readExactly(ctx, t, e.log, "lines", probes+2))
	if strings.Join(got[probes:], ",") != "first,last" || strings.Count(strings.Join(got, ","), "first") != 1 {
		t.Fatalf("topic holds %q, want probes, then first and last once", got)
	}
	dead := readExactly(ctx, t, e.log, "lines-dlq", 1)
	checkSourceDeadLetter(t, dead[0], "not syslog", c.LocalAddr(), "udp: invalid datagram", "syslog: ")
}

// txnSource reads once: rows of one transaction, sharing its position,
// two of which it could not parse.
type txnSource struct{ read bool }

func (s *txnSource) Open(context.Context, sdk.Position) error { return nil }
func (s *txnSource) Read(context.Context) ([]sdk.Record, error) {
	if s.read {
		return nil, sdk.ErrBackoff
	}
	s.read = true
	pos := sdk.Position("tx1")
	return []sdk.Record{{Value: []byte(`{"row":1}`), Position: pos},
		{Value: []byte("row 2"), Position: pos, Err: errors.New("txn: row 2 does not parse")},
		{Value: []byte("row 3"), Position: pos, Err: errors.New("txn: row 3 does not parse")}}, nil
}
func (s *txnSource) Ack(context.Context, sdk.Position) error { return nil }
func (s *txnSource) Close(context.Context) error             { return nil }

// Dead letters that share a source position are all kept: the duplicate
// window dedupes a re-read record, not its neighbours.
func TestSourceDeadLettersSharingAPosition(t *testing.T) {
	plugin := sdk.Plugin{Spec: sdk.Spec{Name: "txn", Kind: sdk.KindSource, Summary: "test"},
		NewSource: func(sdk.Config, sdk.Env) (sdk.Source, error) { return &txnSource{}, nil }}
	e := start(t, t.TempDir(), plugin)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.w.Put(ctx, worker.ConnectorConfig{Name: "txn", Kind: sdk.KindSource, Plugin: "txn", Topic: "rows",
		Errors: worker.ErrorPolicy{Tolerance: worker.ToleranceAll, DeadLetterTopic: "rows-dlq"}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the good row in the topic", func() bool {
		info, err := e.log.Topic(ctx, "rows")
		return err == nil && info.Partitions[0].LastOffset >= 0
	})
	readExactly(ctx, t, e.log, "rows", 1)
	dead := readExactly(ctx, t, e.log, "rows-dlq", 2)
	for i, d := range dead {
		h := headers(d)
		if want := fmt.Sprintf("row %d", i+2); string(d.Value) != want || h[worker.HeaderDLQStage] != worker.StageSource ||
			h[worker.HeaderDLQError] != fmt.Sprintf("txn: row %d does not parse", i+2) {
			t.Errorf("dead letter %d: value %q headers %v, want %q at stage source", i, d.Value, h, want)
		}
	}
}
