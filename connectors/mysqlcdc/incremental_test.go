package mysqlcdc

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/internal/incsnap/incsnaptest"
	"github.com/braidhq/braid/connectors/sdk"
)

func origin(t *testing.T, db string) incsnaptest.Mirror {
	t.Helper()
	conn, err := sql.Open("mysql", srv.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query("SELECT id, v FROM o")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return incsnaptest.FromRows(t, rows)
}

// An incremental snapshot requested while the source streams, with writes
// going on between every Read (so between a chunk's SELECT and its
// emission), leaves an upserting mirror equal to the origin; a source
// reopened at any record's position continues to the same end; a request
// the position shows as taken up is not taken up again.
func TestIncrementalSnapshot(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE o (id INT PRIMARY KEY, v INT)")
	fill(t, db, "o", 60, func(i int) string { return fmt.Sprintf("(%d, %d)", i, i) })
	raw := func() map[string]any {
		return map[string]any{"tables": []any{db + ".o"}, "snapshot.mode": "never", "snapshot.chunk.size": 7,
			"batch.max.rows": 5, "heartbeat.interval": "200ms", "heartbeat.topic": "-"}
	}
	s := openSource(t, raw(), nil)
	if err := s.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{db + ".missing"}}}); err == nil {
		t.Fatal("a table outside tables was accepted")
	}
	if err := s.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{db + ".o"}}}); err != nil {
		t.Fatal(err)
	}
	step := 0
	write := func() {
		step++
		switch step % 4 {
		case 0:
			exec(t, db, fmt.Sprintf("UPDATE o SET v = v + 1000 WHERE id = %d", 1+(step*7)%60))
		case 1:
			exec(t, db, fmt.Sprintf("DELETE FROM o WHERE id = %d", 1+(step*11)%60))
		case 2:
			exec(t, db, fmt.Sprintf("INSERT INTO o VALUES (%d, %d) ON DUPLICATE KEY UPDATE v = -v", 100+step, step))
		case 3:
			exec(t, db, fmt.Sprintf("UPDATE o SET id = id + 500 WHERE id = %d", 1+(step*13)%60))
		}
	}
	// Changes committed after a chunk's SELECT but before its high
	// watermark are what the drop in step 2 is for: the chunk holds the
	// older row.
	s.inc.afterRead = func() { write(); write() }
	all := incsnaptest.ReadUntil(t, s, write, incsnaptest.SnapshotDone(s.Progress))
	all = append(all, incsnaptest.ReadQuiet(t, s, 500*time.Millisecond)...)
	m := incsnaptest.Mirror{}
	m.Apply(all)
	if d := m.Diff(origin(t, db)); d != "" {
		t.Fatalf("after %d records and %d writes the mirror differs: %s", len(all), step, d)
	}
	snaps := incsnaptest.Count(all, sdk.OpSnapshot)
	// Rows inserted before a chunk reached them are read too.
	if snaps < 30 || snaps > 60+step {
		t.Fatalf("%d snapshot records after %d writes", snaps, step)
	}
	p := s.Progress()
	if tp := p.Tables[0]; tp.Name != db+".o" || tp.State != "done" || tp.Done < 50 {
		t.Fatalf("progress %+v", p)
	}
	s.Close(t.Context())

	// Resume from some records' positions: what was published before plus
	// what the reopened source reads ends equal to the origin.
	want := origin(t, db)
	for _, i := range []int{0, 3, len(all) / 3, len(all) / 2, len(all) - 1} {
		s2 := openSource(t, raw(), all[i].Position)
		s2.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{db + ".o"}}}) // handed again after each Open
		m := incsnaptest.Mirror{}
		m.Apply(all[:i+1])
		m.Apply(incsnaptest.ReadQuiet(t, s2, 700*time.Millisecond))
		if d := m.Diff(want); d != "" {
			t.Fatalf("resumed after record %d of %d: %s", i, len(all), d)
		}
		s2.Close(t.Context())
	}
	s3 := openSource(t, raw(), all[len(all)-1].Position)
	s3.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{db + ".o"}}})
	expectQuiet(t, s3)
}
