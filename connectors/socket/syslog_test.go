package socket

import (
	"bufio"
	"fmt"
	"net"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema/convert"
)

const (
	msg5424 = `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`
	msg3164 = `<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`
	msgPID  = `<13>Feb  5 17:32:18 10.0.0.99 myapp[1234]: hello world`
)

var want5424 = map[string]any{
	"format": "rfc5424", "version": int64(1), "facility": int64(20), "severity": int64(5),
	"timestamp": time.Date(2003, 10, 11, 22, 14, 15, 3_000_000, time.UTC),
	"host":      "mymachine.example.com", "app": "evntslog", "procid": nil, "msgid": "ID47",
	"structured_data": map[string]any{"exampleSDID@32473": map[string]any{"iut": "3", "eventSource": "Application", "eventID": "1011"}},
	"message":         "An application event log entry...",
}

func want3164() map[string]any {
	return map[string]any{
		"format": "rfc3164", "version": nil, "facility": int64(4), "severity": int64(2),
		"timestamp": time.Date(time.Now().Year(), 10, 11, 22, 14, 15, 0, time.UTC),
		"host":      "mymachine", "app": "su", "procid": nil, "msgid": nil, "structured_data": nil,
		"message": "'su root' failed for lonvick on /dev/pts/8",
	}
}

func checkFields(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if gt, ok := g.(time.Time); ok {
			if !gt.Equal(w.(time.Time)) {
				t.Errorf("%s = %v, want %v", k, g, w)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}

// RFC 5424 and RFC 3164 messages, octet-counted and newline framed on one
// connection, are parsed into fields.
func TestSyslogTCP(t *testing.T) {
	t.Parallel()
	src := startTCP(t, map[string]any{"framing": "syslog", "key.field": "host"}, sdk.Env{})
	c := dial(t, src.Addr())
	multi := "<14>1 - host2 app - - - first line\nsecond line" // octet counting allows newlines
	write(t, c, fmt.Sprintf("%d %s", len(msg5424), msg5424)+msg3164+"\n"+msgPID+"\r\n"+
		fmt.Sprintf("%d %s", len(multi), multi)+"<34>Oct 11 22:14:15 host3 tag: nul trailer\x00\n")
	recs := readN(t, src, 5)
	checkFields(t, structured(t, recs[0]), want5424)
	checkFields(t, structured(t, recs[1]), want3164())
	if f := structured(t, recs[2]); f["procid"] != "1234" || f["app"] != "myapp" || f["host"] != "10.0.0.99" || f["message"] != "hello world" {
		t.Errorf("fields %v", f)
	}
	if m := structured(t, recs[3])["message"]; m != "first line\nsecond line" {
		t.Errorf("octet-counted message %q", m)
	}
	if m := structured(t, recs[4])["message"]; m != "nul trailer" {
		t.Errorf("message with a NUL trailer %q", m)
	}
	if string(recs[0].Key) != "mymachine.example.com" || string(recs[1].Key) != "mymachine" {
		t.Errorf("keys %q %q", recs[0].Key, recs[1].Key)
	}
	// The value is the fields as the json converter encodes them.
	for _, r := range recs {
		want, err := convert.NewJSON(false).Encode(t.Context(), "", structured(t, r), nil)
		if err != nil || string(r.Value) != string(want) {
			t.Errorf("value %s, want the json converter's %s (%v)", r.Value, want, err)
		}
	}
}

func TestSyslogFormatOnly5424(t *testing.T) {
	t.Parallel()
	var g gauges
	src := startTCP(t, map[string]any{"framing": "syslog", "syslog.format": "rfc5424"}, g.env())
	c := dial(t, src.Addr())
	write(t, c, msg3164+"\n"+msg5424+"\n")
	recs := readN(t, src, 1)
	checkFields(t, structured(t, recs[0]), want5424)
	g.waitGauge(t, "invalid_frames", 1)
}

// 50 clients send syslog lines as fast as they can into a source whose
// consumer is slow: the buffer stays within buffer.bytes, memory stays
// bounded, and every line arrives exactly once.
//
// Not parallel, so the heap it measures is its own.
func TestManyClientsSlowConsumer(t *testing.T) {
	const clients, perClient = 50, 2000
	const limit = 1 << 20
	src := startTCP(t, map[string]any{"framing": "syslog", "buffer.bytes": limit, "max.connections": clients}, sdk.Env{})

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", src.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			w := bufio.NewWriter(conn)
			for i := range perClient {
				fmt.Fprintf(w, "<13>1 2026-12-03T06:00:00Z host%d app - - - c=%d n=%d\n", c, c, i)
			}
			if err := w.Flush(); err != nil {
				errs <- err
			}
		}()
	}

	seen := make(map[[2]int]int, clients*perClient)
	var maxUsed int64
	var peakHeap uint64
	ctx := t.Context()
	for n := 0; n < clients*perClient; {
		recs, err := src.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			msg, _ := structured(t, r)["message"].(string)
			var c, i int
			if _, err := fmt.Sscanf(msg, "c=%d n=%d", &c, &i); err != nil {
				t.Fatalf("message %q: %v", msg, err)
			}
			seen[[2]int{c, i}]++
		}
		maxUsed = max(maxUsed, src.buf.used.Load())
		if n/20000 != (n+len(recs))/20000 { // the live heap, now and then
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			peakHeap = max(peakHeap, m.HeapAlloc)
		}
		n += len(recs)
		time.Sleep(time.Millisecond) // a slow consumer
		if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	readNothing(t, src, 100*time.Millisecond)
	for c := range clients {
		for i := range perClient {
			if k := seen[[2]int{c, i}]; k != 1 {
				t.Fatalf("client %d line %d arrived %d times", c, i, k)
			}
		}
	}
	if maxUsed > limit {
		t.Fatalf("buffered up to %d bytes, over buffer.bytes %d", maxUsed, limit)
	}
	// The test's own map of 100,000 entries is a few MiB; the source may
	// add its buffer and 50 connections' read buffers.
	if grown := int64(peakHeap) - int64(before.HeapAlloc); grown > 32<<20 {
		t.Fatalf("heap grew by %d MiB while 50 clients sent %d lines", grown>>20, clients*perClient)
	}
	t.Logf("%d lines, buffer peak %d of %d bytes, heap peak +%s MiB", clients*perClient, maxUsed, limit,
		strconv.FormatInt((int64(peakHeap)-int64(before.HeapAlloc))>>20, 10))
}

func TestSyslogKeyChecks(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw  map[string]any
		want string // in the error; "" for none
	}{
		{map[string]any{"framing": "syslog", "key.field": "hots"}, `did you mean "host"`},
		{map[string]any{"framing": "lines", "key.field": "host"}, "the only key is peer"},
		{map[string]any{"framing": "lines", "key.field": "peer"}, ""},
		{map[string]any{"listen": ":5514"}, "beyond loopback"},
		{map[string]any{"listen": "0.0.0.0:5514", "listen.insecure": true}, ""},
		{map[string]any{"listen": "[::1]:5514"}, ""},
		{map[string]any{"tls.cert.file": "c.pem"}, "tls.cert.file and tls.key.file go together"},
		{map[string]any{"tls.ca.file": "ca.pem"}, "mutual TLS needs"},
		{map[string]any{"listen": ":5514", "tls.cert.file": "c", "tls.key.file": "k", "tls.ca.file": "ca"}, ""},
		{map[string]any{"length.bytes": 3}, "must be 2 or 4"},
		{map[string]any{"max.length": 1 << 20, "buffer.bytes": 1 << 20}, "less than one record"},
		{map[string]any{"syslog.timezone": "Mars/Olympus"}, "unknown time zone"},
	} {
		_, err := tcpSpec.Validate(c.raw)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: error %v, want %q", c.raw, err, c.want)
		}
	}
	if _, err := udpSpec.Validate(map[string]any{"listen": "0.0.0.0:514"}); err == nil || !strings.Contains(err.Error(), "UDP cannot authenticate") {
		t.Errorf("udp beyond loopback: %v", err)
	}
	if _, err := udpSpec.Validate(map[string]any{"framing": "length-prefixed"}); err == nil {
		t.Error("udp accepted framing length-prefixed")
	}
}
