package fileformat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Scanner splits a stream into records: lines, or CSV records (a newline
// inside quotes does not end one). Off is the byte offset just after the
// last record handed out, counted from where the stream was positioned.
type Scanner struct {
	R       *bufio.Reader
	Off     int64
	CSV     bool
	Name    string // for errors
	pending []byte // a record read only in part
}

// Reset makes the scanner read r, which stands at offset off.
func (s *Scanner) Reset(r io.Reader, off int64, bufSize int) {
	if s.R == nil {
		s.R = bufio.NewReaderSize(r, bufSize)
	} else {
		s.R.Reset(r)
	}
	s.Off = off
	s.pending = s.pending[:0]
}

// Pending is how many bytes of an unfinished record are held back.
func (s *Scanner) Pending() int { return len(s.pending) }

// Next returns the next complete record (without its line ending) and the
// offset just after it. The slice is valid until the following call. At the
// end of the data it returns io.EOF and keeps a partial record pending.
func (s *Scanner) Next() ([]byte, int64, error) {
	for {
		chunk, err := s.R.ReadSlice('\n')
		if err == nil && len(s.pending) == 0 && (!s.CSV || balanced(chunk)) {
			s.Off += int64(len(chunk))
			return TrimEOL(chunk), s.Off, nil
		}
		s.pending = append(s.pending, chunk...)
		switch {
		case err == nil:
			if s.CSV && !balanced(s.pending) {
				continue
			}
			s.Off += int64(len(s.pending))
			rec := s.pending
			s.pending = s.pending[:0]
			return TrimEOL(rec), s.Off, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, 0, io.EOF
		default:
			return nil, 0, fmt.Errorf("read %s at offset %d: %w", s.Name, s.Off, err)
		}
	}
}

// TakePartial hands out the pending partial record, for a stream that will
// not grow any more.
func (s *Scanner) TakePartial() ([]byte, int64, bool) {
	if len(s.pending) == 0 {
		return nil, 0, false
	}
	s.Off += int64(len(s.pending))
	rec := s.pending
	s.pending = s.pending[:0]
	return TrimEOL(rec), s.Off, true
}

// TrimEOL removes one trailing \n or \r\n.
func TrimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// balanced reports whether b holds an even number of double quotes, that is
// whether a newline at its end is outside a quoted CSV field.
func balanced(b []byte) bool { return bytes.Count(b, []byte{'"'})%2 == 0 }
