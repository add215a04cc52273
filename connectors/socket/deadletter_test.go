package socket

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// deadLetter is what a record handed with on.invalid dead-letter should be:
// its value, and what its error says.
type deadLetter struct {
	value string
	errs  []string // substrings of the error; none: a good record
}

// checkRecords compares records with what they should be, in order; every
// record, good or not, carries the sender's headers, and a bad one's error
// names the sender.
func checkRecords(t *testing.T, recs []sdk.Record, from net.Addr, want []deadLetter) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	sender := from.String()
	host, port, _ := net.SplitHostPort(sender)
	for i, w := range want {
		r := recs[i]
		if a, _ := r.Headers.Get(HeaderPeerAddress); a != host {
			t.Errorf("record %d: peer address %q, want %q", i, a, host)
		}
		if p, _ := r.Headers.Get(HeaderPeerPort); p != port {
			t.Errorf("record %d: peer port %q, want %q", i, p, port)
		}
		if len(w.errs) == 0 {
			if r.Err != nil || string(r.Value) != w.value {
				t.Errorf("record %d: value %q, error %v; want the good record %q", i, r.Value, r.Err, w.value)
			}
			continue
		}
		if r.Err == nil {
			t.Errorf("record %d: %q has no error, want one saying %q", i, r.Value, w.errs)
			continue
		}
		if string(r.Value) != w.value {
			t.Errorf("record %d: value %q, want %q", i, r.Value, w.value)
		}
		for _, s := range append(w.errs, "invalid", "from "+sender) {
			if !strings.Contains(r.Err.Error(), s) {
				t.Errorf("record %d: error %q does not say %q", i, r.Err, s)
			}
		}
	}
}

// With on.invalid dead-letter every invalid frame becomes a record with its
// bytes (the start of an over-long one) and an error, in order between the
// good ones, and is still counted.
func TestTCPDeadLetter(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("y", 200<<10) // longer than the read buffer too
	prefixed := func(frames ...string) string {
		var out []byte
		for _, f := range frames {
			out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
			out = append(out, f...)
		}
		return string(out)
	}
	for _, tc := range []struct {
		name string
		cfg  map[string]any
		send string
		want []deadLetter
	}{
		{"lines", map[string]any{"max.length": 16},
			"a\n" + strings.Repeat("z", 40) + "\r\n" + huge + "\nb",
			[]deadLetter{{value: "a"},
				{strings.Repeat("z", 16), []string{"tcp: ", "frame of 40 bytes is longer than max.length 16", "first 16 bytes"}},
				{strings.Repeat("y", 16), []string{fmt.Sprintf("frame of %d bytes", len(huge)), "first 16 bytes"}},
				{value: "b"}}},
		{"length-prefixed", map[string]any{"framing": "length-prefixed", "length.bytes": 2, "max.length": 8},
			prefixed("one", "0123456789", "two"),
			[]deadLetter{{value: "one"}, {"01234567", []string{"frame of 10 bytes", "first 8 bytes"}}, {value: "two"}}},
		{"syslog", map[string]any{"framing": "syslog", "max.length": 1024},
			msgPID + "\nnot syslog at all\n12x y\n" + "4 <13>" + "9x",
			[]deadLetter{{value: msgPID}, {"not syslog at all", []string{"syslog: "}},
				{"12x y", []string{"octet count is not a number"}}, {"<13>", []string{"syslog: "}},
				{"9x", []string{"octet count is not a number"}}}}, // cut short by the end of input
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var g gauges
			tc.cfg["on.invalid"] = "dead-letter"
			src := startTCP(t, tc.cfg, g.env())
			c := dial(t, src.Addr())
			write(t, c, tc.send)
			c.(*net.TCPConn).CloseWrite() // the end of the last frame
			recs := readN(t, src, len(tc.want))
			if tc.name == "syslog" {
				recs[0].Value = []byte(msgPID) // a good one's value is its fields; checked in TestSyslogTCP
			}
			checkRecords(t, recs, c.LocalAddr(), tc.want)
			bad := 0
			for _, w := range tc.want {
				if len(w.errs) > 0 {
					bad++
				}
			}
			g.waitGauge(t, "invalid_frames", float64(bad))
		})
	}
}

func TestUDPDeadLetter(t *testing.T) {
	t.Parallel()
	var g gauges
	src := startUDP(t, map[string]any{"framing": "syslog", "max.length": 100, "on.invalid": "dead-letter"}, g.env())
	c := udpDial(t, src.Addr())
	write(t, c, msg3164)
	write(t, c, "not syslog\n")
	write(t, c, "<13>"+strings.Repeat("x", 200))
	recs := readN(t, src, 3)
	recs[0].Value = []byte("good")
	checkRecords(t, recs, c.LocalAddr(), []deadLetter{{value: "good"},
		{"not syslog", []string{"udp: invalid datagram", "syslog: "}},
		{"<13>" + strings.Repeat("x", 96), []string{"longer than max.length 100", "first 100 bytes"}}})
	g.waitGauge(t, "invalid_frames", 2)
}
