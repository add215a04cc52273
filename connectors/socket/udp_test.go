package socket

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

func TestConformanceUDP(t *testing.T) {
	t.Parallel()
	conformance(t, "udp", UDPPlugin(), func(c net.Conn, i int) { _, _ = fmt.Fprintf(c, "datagram %d", i) })
}

func udpDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPLinesAndSyslog(t *testing.T) {
	t.Parallel()
	t.Run("lines", func(t *testing.T) {
		t.Parallel()
		var g gauges
		src := startUDP(t, map[string]any{"max.length": 100, "key.field": "peer"}, g.env())
		c := udpDial(t, src.Addr())
		write(t, c, "one\r\ntwo\n")
		write(t, c, strings.Repeat("x", 101)) // over max.length: skipped whole
		write(t, c, "three")
		recs := readN(t, src, 3)
		if got := values(recs); !slices.Equal(got, []string{"one", "two", "three"}) {
			t.Fatalf("values = %q", got)
		}
		port := fmt.Sprint(c.LocalAddr().(*net.UDPAddr).Port)
		if p, _ := recs[0].Headers.Get(HeaderPeerPort); p != port || string(recs[0].Key) != "127.0.0.1" {
			t.Fatalf("headers %v key %q, want port %s", recs[0].Headers, recs[0].Key, port)
		}
		g.waitGauge(t, "invalid_frames", 1)
	})
	t.Run("syslog", func(t *testing.T) {
		t.Parallel()
		src := startUDP(t, map[string]any{"framing": "syslog"}, sdk.Env{})
		c := udpDial(t, src.Addr())
		write(t, c, msg5424+"\n")
		write(t, c, msg3164)
		recs := readN(t, src, 2)
		checkFields(t, structured(t, recs[0]), want5424)
		checkFields(t, structured(t, recs[1]), want3164())
	})
}

// A stalled consumer never blocks the UDP source: what does not fit in
// buffer.bytes is dropped and counted, the rest is read afterwards.
func TestUDPDropsWhenStalled(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	var g gauges
	src := startUDP(t, map[string]any{"buffer.bytes": limit, "max.length": 1024}, g.env())
	c := udpDial(t, src.Addr())
	const sent = 1000 // 1000 × (100 + 512) bytes of credit: about 9 times the buffer
	payload := strings.Repeat("d", 100)
	buffered := func() int64 { return src.buf.used.Load() / (100 + recordOverhead) }
	for i := range int64(sent) {
		write(t, c, payload)
		// Nobody reads: each datagram is buffered or dropped at once. The
		// sender waits for that only so the kernel drops none of its own.
		deadline := time.Now().Add(10 * time.Second)
		for buffered()+src.dropped.Load() < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("datagram %d: buffered %d + dropped %d", i, buffered(), src.dropped.Load())
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	dropped := src.dropped.Load()
	if dropped == 0 || buffered() != limit/(100+recordOverhead) {
		t.Fatalf("buffered %d, dropped %d of %d: want the buffer full and the rest dropped", buffered(), dropped, sent)
	}
	g.waitGauge(t, "dropped_datagrams", float64(dropped))
	got := readN(t, src, int(sent-dropped))
	readNothing(t, src, 100*time.Millisecond)
	// With the buffer free again, datagrams are accepted again.
	write(t, c, "after")
	if again := readN(t, src, 1); string(again[0].Value) != "after" {
		t.Fatalf("value %q", again[0].Value)
	}
	t.Logf("sent %d, read %d, dropped %d", sent, len(got), dropped)
}
