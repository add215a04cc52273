package file

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/braidhq/braid/connectors/internal/fileformat"
)

// filePos is where the source stands in one file.
type filePos struct {
	Path   string `json:"path"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// position is the source's Position: every tracked file, sorted by path.
type position struct {
	Files []filePos `json:"files"`
}

func decodePosition(b []byte) (position, error) {
	var p position
	if len(b) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("file source: stored position %q is not valid: %w", b, err)
	}
	return p, nil
}

func appendEntry(b []byte, path string, ino uint64, off int64) []byte {
	b = appendEntryHead(b, path, ino)
	b = strconv.AppendInt(b, off, 10)
	return append(b, '}')
}

func appendEntryHead(b []byte, path string, ino uint64) []byte {
	q, _ := json.Marshal(path) // a string always marshals
	b = append(b, `{"path":`...)
	b = append(b, q...)
	b = append(b, `,"inode":`...)
	b = strconv.AppendUint(b, ino, 10)
	return append(b, `,"offset":`...)
}

// newPosTemplate builds the template for records of cur among files.
func newPosTemplate(files []*tracked, cur *tracked) fileformat.PosTemplate {
	sorted := make([]*tracked, len(files))
	copy(sorted, files)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].path < sorted[j].path })
	var t fileformat.PosTemplate
	b := []byte(`{"files":[`)
	first := true
	for _, f := range sorted {
		if !first {
			b = append(b, ',')
		}
		first = false
		if f == cur {
			t.Prefix = appendEntryHead(b, f.path, f.ino)
			b = []byte{'}'}
			continue
		}
		b = appendEntry(b, f.path, f.ino, f.sc.Off)
	}
	b = append(b, "]}"...)
	if t.Prefix == nil { // cur is not tracked (cannot happen); keep JSON valid
		t.Prefix = append(b[:len(b)-2], `,{"path":"","inode":0,"offset":`...)
		b = []byte("}]}")
	}
	t.Suffix = b
	return t
}
