package file

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/braidhq/braid/connectors/internal/fileformat"
)

// readBufSize is the read buffer of each tracked file; large buffers keep
// read syscalls rare.
const readBufSize = 1 << 20

// tracked is one file the source reads, identified by its inode so that a
// rename (rotation) keeps its state and a new file at the same path does not.
type tracked struct {
	path   string
	ino    uint64
	f      *os.File
	sc     fileformat.Scanner // sc.Off: the offset just after the last record handed out
	header []string           // CSV column names
	gone   bool               // no longer matched by the glob under this inode: drain, then drop
	done   bool               // non-follow mode: read to the end
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// openTracked opens path, checks it is still the file with inode ino (when
// ino is not 0) and positions it at off (0 when the file is now shorter).
func openTracked(path string, off int64, csvMode bool) (*tracked, error) {
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
	t := &tracked{path: path, ino: inodeOf(fi), f: f, sc: fileformat.Scanner{CSV: csvMode, Name: path}}
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
	t.sc.Reset(t.f, off, readBufSize)
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

// truncated reports whether the file is now shorter than what was read.
func (t *tracked) truncated() (bool, error) {
	fi, err := t.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", t.path, err)
	}
	return fi.Size() < t.sc.Off+int64(t.sc.Pending()), nil
}
