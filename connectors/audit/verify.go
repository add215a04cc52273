package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/braidhq/braid/connectors/sdk"
)

// fileRe matches the audit files of a directory; their names sort by date.
var fileRe = regexp.MustCompile(`^audit-\d{4}-\d{2}-\d{2}\.jsonl$`)

// VerifyError names the first entry that breaks the chain.
type VerifyError struct {
	File   string
	Line   int
	Reason string
}

func (e *VerifyError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// Report sums up a chain that verified.
type Report struct {
	Files    int    `json:"files"`
	Entries  int64  `json:"entries"`
	FirstSeq int64  `json:"first_seq"`
	LastSeq  int64  `json:"last_seq"`
	LastHash string `json:"last_hash"`
	// Offsets is the last offset written per partition.
	Offsets map[sdk.TopicPartition]int64 `json:"-"`
}

// Verify checks the chain of a directory of audit files, or of one file. A
// directory's chain must start at seq 1; a single file may continue an
// earlier one. The error is a *VerifyError naming the first broken line.
func Verify(path string) (Report, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Report{}, err
	}
	if !st.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return Report{}, err
		}
		defer f.Close()
		c := newChain(true)
		if err := c.scan(f, filepath.Base(path), nil); err != nil {
			return c.report, err
		}
		c.report.Files = 1
		return c.report, nil
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return Report{}, err
	}
	defer root.Close()
	names, err := auditFiles(root.FS())
	if err != nil {
		return Report{}, err
	}
	c := newChain(false)
	for _, name := range names {
		f, err := root.Open(name)
		if err != nil {
			return c.report, err
		}
		err = c.scan(f, name, nil)
		f.Close()
		if err != nil {
			return c.report, err
		}
	}
	c.report.Files = len(names)
	return c.report, nil
}

// auditFiles lists a directory's audit files, oldest first.
func auditFiles(fsys fs.FS) ([]string, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && fileRe.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// chain follows entries in order, checking each against the one before.
type chain struct {
	continues bool // the first entry may continue an earlier chain
	started   bool
	report    Report
}

func newChain(continues bool) *chain {
	return &chain{continues: continues, report: Report{LastHash: Genesis, Offsets: map[sdk.TopicPartition]int64{}}}
}

// scan checks every complete line of r. When torn is not nil, a last line
// without its newline is not an error: its start offset is stored in *torn.
func (c *chain) scan(r io.Reader, name string, torn *int64) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var pos int64
	for line := 1; ; line++ {
		raw, err := br.ReadBytes('\n')
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			if torn != nil {
				*torn = pos
				return nil
			}
			return &VerifyError{File: name, Line: line, Reason: "last line is incomplete (no newline): a write was cut short or the line was edited"}
		}
		if len(raw) > 0 {
			if verr := c.check(raw[:len(raw)-1]); verr != "" {
				return &VerifyError{File: name, Line: line, Reason: verr}
			}
			pos += int64(len(raw))
		}
		if errors.Is(err, io.EOF) {
			if torn != nil {
				*torn = -1
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
}

// check verifies one line and advances the chain; it returns why it broke.
func (c *chain) check(raw []byte) string {
	var e Entry
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil || d.More() {
		return fmt.Sprintf("not a valid audit entry: %v", err)
	}
	want, err := e.ComputeHash()
	if err != nil || want != e.Hash {
		return "hash does not match the entry's content: this entry was changed"
	}
	canon, _ := json.Marshal(e)
	if !bytes.Equal(canon, raw) {
		return "entry is not in canonical form: this line was edited"
	}
	prev := c.report.LastSeq
	switch {
	case !c.started && c.continues:
		// A lone file may continue a chain whose start is elsewhere.
	case !c.started && e.Seq != 1:
		return fmt.Sprintf("chain starts at seq %d, not 1: %d earlier entries were removed", e.Seq, e.Seq-1)
	case c.started && e.Seq > prev+1:
		return fmt.Sprintf("seq %d follows seq %d: %d entries were removed (or moved) before this line", e.Seq, prev, e.Seq-prev-1)
	case c.started && e.Seq <= prev:
		return fmt.Sprintf("seq %d follows seq %d: this entry was inserted or moved here", e.Seq, prev)
	}
	if (c.started || !c.continues) && e.PrevHash != c.report.LastHash {
		return "prev_hash does not match the previous entry's hash: the previous entry was replaced"
	}
	if !c.started {
		c.report.FirstSeq = e.Seq
	}
	c.started = true
	c.report.Entries++
	c.report.LastSeq, c.report.LastHash = e.Seq, e.Hash
	tp := sdk.TopicPartition{Topic: e.Topic, Partition: e.Partition}
	if last, ok := c.report.Offsets[tp]; !ok || e.Offset > last {
		c.report.Offsets[tp] = e.Offset
	}
	return ""
}
