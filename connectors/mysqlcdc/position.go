package mysqlcdc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/braidhq/braid/connectors/sdk"
)

// position is what a record's sdk.Position holds. File, Pos and GTID are the
// end of the last fully published transaction (the resume point); Skip rows
// of the transaction after it are published already. During a snapshot,
// Snap says how far it got and File/Pos/GTID are where streaming starts after.
type position struct {
	V    int      `json:"v"`
	File string   `json:"file,omitempty"`
	Pos  uint32   `json:"pos,omitempty"`
	GTID string   `json:"gtid,omitempty"`
	Skip int      `json:"skip,omitempty"`
	Snap *snapPos `json:"snap,omitempty"`
	Inc  *incPos  `json:"inc,omitempty"`
	Sch  *history `json:"sch,omitempty"` // the schema history as of File/Pos (history.go)
}

// incPos is the state of incremental snapshots (incremental.go): the last
// request taken up, the tables still to read (the first is being read) and
// the primary key of the last row of it published.
type incPos struct {
	Req    uint64   `json:"req"`
	Tables []string `json:"tables,omitempty"`
	Key    [][]byte `json:"key,omitempty"`
}

// snapPos is a snapshot's progress: the table being read (tables before it in
// sorted order are done) and the primary key of its last published row.
type snapPos struct {
	Table string   `json:"table"`
	Key   [][]byte `json:"key,omitempty"`
}

const positionVersion = 1

func (p position) encode() sdk.Position {
	p.V = positionVersion
	sch := p.Sch
	p.Sch = nil
	var b []byte
	if p.Snap == nil && p.Inc == nil && plainJSON(p.File) && plainJSON(p.GTID) {
		b = p.appendStream(make([]byte, 0, 48+len(p.File)+len(p.GTID)))
	} else {
		var err error
		if b, err = json.Marshal(p); err != nil {
			panic(err) // only strings, numbers and byte slices
		}
	}
	if sch != nil {
		// Spliced in as encoded once per change: every record has it.
		enc, err := sch.MarshalJSON()
		if err != nil {
			panic(err)
		}
		b = append(append(append(b[:len(b)-1], `,"sch":`...), enc...), '}')
	}
	return b
}

// appendStream writes a streaming position (no Snap, Inc or Sch) exactly as
// json.Marshal does, without its reflection: every record has one.
func (p position) appendStream(b []byte) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(p.V), 10)
	if p.File != "" {
		b = append(append(append(b, `,"file":"`...), p.File...), '"')
	}
	if p.Pos != 0 {
		b = strconv.AppendUint(append(b, `,"pos":`...), uint64(p.Pos), 10)
	}
	if p.GTID != "" {
		b = append(append(append(b, `,"gtid":"`...), p.GTID...), '"')
	}
	if p.Skip != 0 {
		b = strconv.AppendInt(append(b, `,"skip":`...), int64(p.Skip), 10)
	}
	return append(b, '}')
}

// plainJSON reports whether json.Marshal writes s between quotes as is.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// snapEncoder encodes the positions of one chunk's snapshot rows, which
// differ only in the key: the rest is encoded once.
type snapEncoder struct {
	prefix, suffix []byte
}

var snapSentinel = []byte("\x00braid-key\x00")

func newSnapEncoder(p position, table string) snapEncoder {
	p.Snap = &snapPos{Table: table, Key: [][]byte{snapSentinel}}
	b := p.encode()
	mark := []byte(`["` + base64.StdEncoding.EncodeToString(snapSentinel) + `"]`)
	i := bytes.Index(b, mark)
	return snapEncoder{prefix: b[:i], suffix: b[i+len(mark):]}
}

// encode is the position with Snap.Key key, as position.encode writes it.
func (e snapEncoder) encode(key [][]byte) sdk.Position {
	n := len(e.prefix) + len(e.suffix) + 2
	for _, k := range key {
		n += base64.StdEncoding.EncodedLen(len(k)) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, e.prefix...)
	b = append(b, '[')
	for i, k := range key {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, k)
		b = append(b, '"')
	}
	b = append(b, ']')
	return append(b, e.suffix...)
}

func decodePosition(b sdk.Position) (position, error) {
	var p position
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("position %q is not a mysql-cdc position: %w", b, err)
	}
	if p.V != positionVersion {
		return p, fmt.Errorf("position %q has version %d, this build reads %d", b, p.V, positionVersion)
	}
	return p, nil
}

// String names the binlog coordinates for messages.
func (p position) String() string {
	s := fmt.Sprintf("%s:%d", p.File, p.Pos)
	if p.GTID != "" {
		s += " (GTID " + p.GTID + ")"
	}
	return s
}
