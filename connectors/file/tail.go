package file

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// readBufSize is the read buffer of each tracked file; large buffers keep
// read syscalls rare.
const readBufSize = 1 << 20

// tracked is one file the source reads, identified by its inode so that a
// rename (rotation) keeps its state and a new file at the same path does not.
type tracked struct {
	path    string
	ino     uint64
	f       *os.File
	br      *bufio.Reader
	off     int64    // offset just after the last record handed out
	pending []byte   // a record read only in part
	header  []string // CSV column names
	gone    bool     // no longer matched by the glob under this inode: drain, then drop
	done    bool     // non-follow mode: read to the end
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// openTracked opens path, checks it is still the file with inode ino (when
// ino is not 0) and positions it at off (0 when the file is now shorter).
func openTracked(path string, off int64) (*tracked, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	t := &tracked{path: path, ino: inodeOf(fi), f: f}
	if off > fi.Size() {
		off = 0 // truncated while we were away
	}
	if err := t.seek(off); err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

func (t *tracked) seek(off int64) error {
	if _, err := t.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s to %d: %w", t.path, off, err)
	}
	t.off = off
	t.pending = t.pending[:0]
	if t.br == nil {
		t.br = bufio.NewReaderSize(t.f, readBufSize)
	} else {
		t.br.Reset(t.f)
	}
	if off == 0 {
		t.header = nil
	}
	return nil
}

func (t *tracked) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// next returns the next complete record (without its line ending) and the
// offset just after it. The slice is valid until the following call. At the
// end of the data it returns io.EOF and keeps a partial record pending. In
// CSV mode a record ends at a newline outside quotes.
func (t *tracked) next(csvMode bool) ([]byte, int64, error) {
	for {
		chunk, err := t.br.ReadSlice('\n')
		if err == nil && len(t.pending) == 0 && (!csvMode || balanced(chunk)) {
			t.off += int64(len(chunk))
			return trimEOL(chunk), t.off, nil
		}
		t.pending = append(t.pending, chunk...)
		switch {
		case err == nil:
			if csvMode && !balanced(t.pending) {
				continue
			}
			t.off += int64(len(t.pending))
			rec := t.pending
			t.pending = t.pending[:0]
			return trimEOL(rec), t.off, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, 0, io.EOF
		default:
			return nil, 0, fmt.Errorf("read %s at offset %d: %w", t.path, t.off, err)
		}
	}
}

// takePartial hands out the pending partial record, for a file that will
// not grow any more.
func (t *tracked) takePartial() ([]byte, int64, bool) {
	if len(t.pending) == 0 {
		return nil, 0, false
	}
	t.off += int64(len(t.pending))
	rec := t.pending
	t.pending = t.pending[:0]
	return trimEOL(rec), t.off, true
}

// truncated reports whether the file is now shorter than what was read.
func (t *tracked) truncated() (bool, error) {
	fi, err := t.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", t.path, err)
	}
	return fi.Size() < t.off+int64(len(t.pending)), nil
}

func trimEOL(b []byte) []byte {
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
