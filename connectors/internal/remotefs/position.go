package remotefs

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/braidhq/braid/connectors/internal/fileformat"
)

// filePos is where the source stands in one file: its identity (path, size,
// modification time in Unix nanoseconds) and the byte offset after the last
// record handed out (of the decompressed stream, for gzip).
type filePos struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	MTime  int64  `json:"mtime"`
	Offset int64  `json:"offset"`
}

// position is the source's Position: the files being read and Seq, how
// many files were read to their end before this record. The files read are
// kept in the store (so that positions stay small however many files a
// directory keeps), each with the Seq its last record had: on restart,
// those above the stored position's Seq never reached the log and are read
// again. Epoch names that set; a new one starts when there is no stored
// position, so an offset reset reads everything again.
type position struct {
	Epoch string    `json:"epoch"`
	Seq   int64     `json:"seq"`
	Files []filePos `json:"files"`
}

func decodePosition(b []byte) (position, error) {
	var p position
	if len(b) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("stored position %q is not valid: %w", b, err)
	}
	return p, nil
}

func appendFile(b []byte, f filePos, withOffset bool) []byte {
	q, _ := json.Marshal(f.Path) // a string always marshals
	b = append(b, `{"path":`...)
	b = append(b, q...)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, f.Size, 10)
	b = append(b, `,"mtime":`...)
	b = strconv.AppendInt(b, f.MTime, 10)
	b = append(b, `,"offset":`...)
	if !withOffset {
		return b
	}
	b = strconv.AppendInt(b, f.Offset, 10)
	return append(b, '}')
}

// newPosTemplate builds the template for records of the file cur among
// files (cur included), sorted by path.
func newPosTemplate(epoch string, seq int64, files []filePos, cur string) fileformat.PosTemplate {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	q, _ := json.Marshal(epoch)
	b := append([]byte(`{"epoch":`), q...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"files":[`...)
	var t fileformat.PosTemplate
	for i, f := range files {
		if i > 0 {
			b = append(b, ',')
		}
		if f.Path == cur {
			t.Prefix = appendFile(b, f, false)
			b = []byte{'}'}
			continue
		}
		b = appendFile(b, f, true)
	}
	t.Suffix = append(b, "]}"...)
	return t
}

// encodePosition renders a position no record's offset varies in.
func encodePosition(epoch string, seq int64, files []filePos) []byte {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	b, _ := json.Marshal(position{Epoch: epoch, Seq: seq, Files: files})
	return b
}
