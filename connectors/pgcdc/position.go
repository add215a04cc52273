package pgcdc

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/jackc/pglogrepl"
)

// position is where the source is. While streaming, LSN is the commit LSN
// of the transaction of the last record handed out and N how many of that
// transaction's records were; a restart skips exactly those. During the
// snapshot, Snap holds the per-table progress.
type position struct {
	V    int      `json:"v"`
	LSN  string   `json:"lsn,omitempty"`
	N    int      `json:"n,omitempty"`
	Snap *snapPos `json:"snap,omitempty"`
	Inc  *incPos  `json:"inc,omitempty"`
}

// incPos is the state of incremental snapshots (incremental.go): the last
// request taken up, the tables still to read (the first is being read) and
// the primary key, as text, of the last row of it published.
type incPos struct {
	Req    uint64   `json:"req"`
	Tables []string `json:"tables,omitempty"`
	Key    []string `json:"key,omitempty"`
}

// snapPos is a snapshot's progress: the tables done and the last key read
// of the one being read (keyset pagination resumes after it).
type snapPos struct {
	Start string   `json:"start,omitempty"` // the slot's consistent point the snapshot meets
	Done  []string `json:"done,omitempty"`
	Table string   `json:"table,omitempty"`
	Key   []string `json:"key,omitempty"` // primary-key values as text; a ctid for a table without one
}

func parsePosition(b sdk.Position) (*position, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var p position
	if err := json.Unmarshal(b, &p); err != nil || p.V != 1 {
		return nil, sdk.Fatal(fmt.Errorf("position %q is not a postgres-cdc position", b))
	}
	if p.Snap == nil {
		if _, err := pglogrepl.ParseLSN(p.LSN); err != nil {
			return nil, sdk.Fatal(fmt.Errorf("position %q: bad LSN: %w", b, err))
		}
	}
	return &p, nil
}

func (p position) bytes() sdk.Position {
	p.V = 1
	if p.Snap == nil && p.Inc == nil {
		// Every streamed record has one: written without reflection, the
		// same bytes as json.Marshal (an LSN is hex digits and a slash).
		b := make([]byte, 0, 40)
		b = append(b, `{"v":1`...)
		if p.LSN != "" {
			b = append(append(append(b, `,"lsn":"`...), p.LSN...), '"')
		}
		if p.N != 0 {
			b = strconv.AppendInt(append(b, `,"n":`...), int64(p.N), 10)
		}
		return append(b, '}')
	}
	b, _ := json.Marshal(p)
	return b
}
