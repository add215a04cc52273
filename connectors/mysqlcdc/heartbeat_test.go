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
	// Begun at the binlog's end with nothing stored: that position goes
	// out at once, so a restart before the first change misses nothing.
	if hb := readN(t, s, 1)[0]; hb.Topic != "hb" || len(hb.Position) == 0 {
		t.Fatalf("first record %+v, want the start position on the heartbeat topic", hb)
	}
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

// A source begun with snapshot.mode never that stops before its first
// captured change resumes where it began: a row written while it was
// down arrives.
func TestNeverModeStartIsStored(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE o (id INT PRIMARY KEY)")
	cfg := map[string]any{"tables": []any{db + ".o"}, "snapshot.mode": "never", "heartbeat.topic": "hb"}
	s := openSource(t, cfg, nil)
	start := readN(t, s, 1)[0]
	s.Close(t.Context())
	exec(t, db, "INSERT INTO o VALUES (7)")
	again := openSource(t, cfg, start.Position)
	if recs := readN(t, again, 1); string(recs[0].Key) != `{"id":7}` {
		t.Fatalf("after the restart: %s %s", recs[0].Topic, recs[0].Key)
	}
}
