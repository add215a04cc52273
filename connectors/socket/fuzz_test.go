package socket

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzFrames feeds arbitrary streams to every framing: no panic, no frame
// over max.length, and the reader always reaches the end of the input.
func FuzzFrames(f *testing.F) {
	for _, seed := range []string{
		"a\nb\r\n\nlast", "\x00\x03abc\x00\x00", "\x00\x00\x00\x02ok\xff\xff\xff\xff",
		"12 <14>1 - - - - - -" + msg3164 + "\n", "99999999999 x\n", "0 \n", "5 <1>1", msg5424,
		"<34>Oct 11 22:14:15 h t: m\x00\n", "12345678901234567890",
	} {
		f.Add([]byte(seed), uint8(0))
		f.Add([]byte(seed), uint8(1))
		f.Add([]byte(seed), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		framing := []Framing{FramingLines, FramingLength, FramingSyslog}[int(mode)%3]
		const maxLen = 64
		fr := newFrameReader(bytes.NewReader(data), framing, maxLen, 2+2*int(mode/3%2))
		s := &settings{framing: framing, maxLen: maxLen, syslogFormat: syslogAuto, bufferBytes: 1 << 20, tz: time.UTC}
		if framing != FramingSyslog {
			s.framing = FramingLines
		}
		var invalid atomic.Int64
		b := newBatcher(s, &invalid)
		b.start(peer{addr: "127.0.0.1", port: "1"}, 64, 4)
		for range len(data) + 2 {
			frame, err := fr.next()
			var inv *invalidFrame
			switch {
			case err == nil:
				if len(frame) > maxLen {
					t.Fatalf("frame of %d bytes over max %d", len(frame), maxLen)
				}
				_ = b.add(frame)
				_ = fr.complete()
			case errors.As(err, &inv):
				if len(frame) > maxLen {
					t.Fatalf("invalid frame of %d bytes kept, over max %d", len(frame), maxLen)
				}
				b.addInvalid(frame, inv)
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		t.Fatalf("no end of input after %d frames of %d bytes", len(data)+2, len(data))
	})
}
