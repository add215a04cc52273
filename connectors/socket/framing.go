package socket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// readBufferSize is each connection's read buffer; longer frames are put
// together in a scratch slice, so memory per connection does not depend on
// max.length until a long frame arrives.
const readBufferSize = 16 << 10

// invalidFrame is a frame that cannot become a record; the stream is still
// in step after it (the rest of an over-long frame was skipped). truncated
// says the bytes handed with it are only the frame's first max.length.
type invalidFrame struct {
	msg       string
	truncated bool
}

func (e *invalidFrame) Error() string { return e.msg }

// tooLong is the error of a frame of size bytes (-1: not known) over max.
func tooLong(size, max int) *invalidFrame {
	if size < 0 {
		return &invalidFrame{msg: fmt.Sprintf("frame longer than max.length %d bytes", max), truncated: true}
	}
	return &invalidFrame{msg: fmt.Sprintf("frame of %d bytes is longer than max.length %d", size, max), truncated: true}
}

// frameReader cuts one connection's byte stream into frames. A frame it
// returns is valid until the next call.
type frameReader struct {
	r        *bufio.Reader
	framing  Framing
	max      int
	lenBytes int
	scratch  []byte
	hdr      [4]byte
}

func newFrameReader(r io.Reader, framing Framing, max, lenBytes int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, readBufferSize), framing: framing, max: max, lenBytes: lenBytes}
}

// complete reports whether a whole frame is already in memory, so the next
// call returns without waiting for the sender. The records read so far are
// handed over before a wait, never held while a sender pauses mid-frame.
func (f *frameReader) complete() bool {
	buf, _ := f.r.Peek(f.r.Buffered())
	if len(buf) == 0 {
		return false
	}
	switch {
	case f.framing == FramingLength:
		if len(buf) < f.lenBytes {
			return false
		}
		n := int(binary.BigEndian.Uint16(buf))
		if f.lenBytes == 4 {
			n = int(binary.BigEndian.Uint32(buf))
		}
		return len(buf)-f.lenBytes >= n
	case f.framing == FramingSyslog && buf[0] >= '1' && buf[0] <= '9':
		sp := bytes.IndexByte(buf[:min(len(buf), 11)], ' ')
		if sp < 0 {
			return len(buf) >= 11 // not a count: next says so at once
		}
		n, err := strconv.Atoi(string(buf[:sp]))
		return err != nil || len(buf)-sp-1 >= n
	}
	return bytes.IndexByte(buf, '\n') >= 0
}

// next returns the next frame, an *invalidFrame with what it holds of the
// bad frame (at most max bytes), or the reader's error (io.EOF at a clean end).
func (f *frameReader) next() ([]byte, error) {
	if cap(f.scratch) > readBufferSize {
		// A long frame's room is not kept: an idle connection holds
		// its read buffer only, whatever max.length allows.
		f.scratch = nil
	}
	switch f.framing {
	case FramingLength:
		return f.lengthPrefixed()
	case FramingSyslog:
		for {
			b, err := f.r.Peek(1)
			if err != nil {
				return nil, err
			}
			if b[0] >= '1' && b[0] <= '9' {
				return f.octetCounted()
			}
			line, err := f.line()
			if line = trimTrailer(line); err != nil || len(line) > 0 {
				return line, err
			}
		}
	}
	return f.line()
}

// line reads up to LF (dropping it and a CR before it); a last line without
// LF is returned at the end of input. Of a line over max it keeps the first
// max bytes and counts the rest as it skips them.
func (f *frameReader) line() ([]byte, error) {
	b, err := f.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		f.scratch = append(f.scratch[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = f.r.ReadSlice('\n')
			if len(f.scratch)+len(b) > f.max+2 { // +2: room for CR LF
				size := len(f.scratch) + len(b)
				f.scratch = append(f.scratch, b[:max(0, f.max-len(f.scratch))]...)[:f.max]
				for errors.Is(err, bufio.ErrBufferFull) {
					b, err = f.r.ReadSlice('\n')
					size += len(b)
				}
				if err != nil && !errors.Is(err, io.EOF) {
					return nil, err
				}
				if bytes.HasSuffix(b, []byte("\r\n")) {
					size -= 2
				} else if bytes.HasSuffix(b, []byte("\n")) {
					size--
				}
				return f.scratch, tooLong(size, f.max)
			}
			f.scratch = append(f.scratch, b...)
		}
		b = f.scratch
	}
	if err != nil && (!errors.Is(err, io.EOF) || len(b) == 0) {
		return nil, err
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > f.max {
		return b[:f.max], tooLong(len(b), f.max)
	}
	return b, nil
}

func (f *frameReader) lengthPrefixed() ([]byte, error) {
	h := f.hdr[:f.lenBytes]
	if _, err := io.ReadFull(f.r, h); err != nil {
		return nil, err
	}
	var n int
	if f.lenBytes == 2 {
		n = int(binary.BigEndian.Uint16(h))
	} else {
		n = int(binary.BigEndian.Uint32(h))
	}
	return f.body(n)
}

// octetCounted reads RFC 6587's "<length> <message>".
func (f *frameReader) octetCounted() ([]byte, error) {
	n := 0
	var count [10]byte // what was read of the count, for a dead letter
	for digits := 0; ; digits++ {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || digits == 9 {
			// Out of step: skip to the end of the line, where a
			// newline-framed sender would be.
			count[digits] = c
			rest, err := f.line()
			var inv *invalidFrame
			if err != nil && !errors.As(err, &inv) && !errors.Is(err, io.EOF) {
				return nil, err // at the end of input the bad count is the frame
			}
			frame := append(count[:digits+1:digits+1], rest...)
			bad := &invalidFrame{msg: "octet count is not a number followed by a space"}
			if len(frame) > f.max {
				frame, bad.truncated = frame[:f.max], true
			}
			return frame, bad
		}
		count[digits] = c
		n = n*10 + int(c-'0')
	}
	return f.body(n)
}

// body reads a frame of n bytes whose length is known; of an over-long one
// only the first max bytes are held, the rest is skipped.
func (f *frameReader) body(n int) ([]byte, error) {
	keep := min(n, f.max)
	if cap(f.scratch) < keep {
		f.scratch = make([]byte, keep)
	}
	b := f.scratch[:keep]
	if _, err := io.ReadFull(f.r, b); err != nil {
		return nil, noEOF(err)
	}
	if n > f.max {
		if _, err := f.r.Discard(n - f.max); err != nil {
			return nil, noEOF(err)
		}
		return b, tooLong(n, f.max)
	}
	return b, nil
}

// noEOF turns an end of input inside a frame into an error that says so.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// trimTrailer drops what non-transparent syslog framing leaves at the end
// of a message: NUL or CR trailers and trailing newlines.
func trimTrailer(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
