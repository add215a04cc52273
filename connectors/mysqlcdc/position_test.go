package mysqlcdc

import (
	"bytes"
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
