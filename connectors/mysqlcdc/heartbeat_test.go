package mysqlcdc

import (
	"testing"
)

// TestHeartbeatRecordAdvancesPosition writes only to a table the source does
// not capture: a heartbeat record must carry the position past those
// writes, and a source reopened there goes on with the next captured row.
//
// Not parallel: another test's writes move the binlog too, and would make
// the second heartbeat this test expects not to see.
func TestHeartbeatRecordAdvancesPosition(t *testing.T) {
	db := newDB(t, "CREATE TABLE o (id INT PRIMARY KEY)", "CREATE TABLE other (id INT PRIMARY KEY)")
	cfg := map[string]any{"tables": []any{db + ".o"}, "snapshot.mode": "never", "heartbeat.interval": "300ms", "heartbeat.topic": "hb"}
	s := openSource(t, cfg, nil)
	exec(t, db, "INSERT INTO o VALUES (1)")
	first := readN(t, s, 1)[0]
	exec(t, db, "INSERT INTO other VALUES (1)", "INSERT INTO other VALUES (2)")
	hb := readN(t, s, 1)[0]
	if hb.Topic != "hb" || hb.Op != "" || len(hb.Value) == 0 {
		t.Fatalf("heartbeat record = %+v", hb)
	}
	p0, err := decodePosition(first.Position)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := decodePosition(hb.Position)
	if err != nil {
		t.Fatal(err)
	}
	if p1.File != p0.File || p1.Pos <= p0.Pos || p1.Skip != 0 {
		t.Fatalf("heartbeat position %+v does not move past %+v", p1, p0)
	}
	// Nothing moved since: no second heartbeat.
	expectQuiet(t, s)
	exec(t, db, "INSERT INTO o VALUES (2)")
	resumed := openSource(t, cfg, hb.Position)
	recs := readN(t, resumed, 1)
	if string(recs[0].Key) != `{"id":2}` {
		t.Fatalf("resumed at the heartbeat, got %s first", recs[0].Key)
	}
}
