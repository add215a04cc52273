package mysqlcdc

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The chunk encoder writes exactly what position.encode writes.
func TestSnapEncoderMatchesEncode(t *testing.T) {
	bases := []position{
		{File: "mysql-bin.000003", Pos: 4711, GTID: "0-1-42"},
		{File: "b.000001", Pos: 4, Inc: &incPos{Req: 2, Tables: []string{"d.t"}}, Sch: &history{}},
	}
	keys := [][][]byte{{[]byte("1")}, {[]byte("k\"0"), []byte("3")}, {{0xff, 0, '"'}}, {{}}}
	for _, base := range bases {
		enc := newSnapEncoder(base, "db.tbl")
		for _, k := range keys {
			p := base
			p.Snap = &snapPos{Table: "db.tbl", Key: k}
			if want, got := p.encode(), enc.encode(k); !bytes.Equal(want, got) {
				t.Fatalf("key %q:\n got %s\nwant %s", k, got, want)
			}
		}
	}
}

// The streaming fast path writes what json.Marshal writes.
func TestStreamPositionMatchesMarshal(t *testing.T) {
	for _, p := range []position{{}, {File: "mysql-bin.000001", Pos: 4}, {File: "f.000002", Pos: 99, GTID: "0-1-7,1-2-3", Skip: 12},
		{File: "we<ird>&\"", Pos: 1}, {GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"}} {
		p.V = positionVersion
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.encode(); !bytes.Equal(got, want) {
			t.Fatalf("got %s want %s", got, want)
		}
	}
}
