package mysqlcdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// mirror applies records as an upserting sink does: id → v.
type mirror map[string]string

func (m mirror) apply(recs []sdk.Record) {
	for _, r := range recs {
		switch r.Op {
		case sdk.OpSnapshot, sdk.OpCreate, sdk.OpUpdate:
			if r.Op == sdk.OpUpdate && fmt.Sprint(r.Before["id"]) != fmt.Sprint(r.Fields["id"]) {
				delete(m, fmt.Sprint(r.Before["id"]))
			}
			m[fmt.Sprint(r.Fields["id"])] = fmt.Sprint(r.Fields["v"])
		case sdk.OpDelete:
			delete(m, fmt.Sprint(r.Before["id"]))
		}
	}
}

func origin(t *testing.T, db string) mirror {
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
	m := mirror{}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		m[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m mirror) diff(want mirror) string {
	var d []string
	for k, v := range want {
		if g, ok := m[k]; !ok || g != v {
			d = append(d, fmt.Sprintf("%s: got %q want %q", k, g, v))
		}
	}
	for k := range m {
		if _, ok := want[k]; !ok {
			d = append(d, k+": not in the origin")
		}
	}
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("… %d more", len(d)-10))
	}
	return strings.Join(d, "; ")
}

// readUntil reads, calling between after every Read, until done says so.
func readUntil(t *testing.T, s *source, between func(), done func() bool) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []sdk.Record
	for !done() {
		recs, err := s.Read(ctx)
		if err != nil && !errors.Is(err, sdk.ErrBackoff) {
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
		if between != nil {
			between()
		}
	}
	return out
}

func snapshotDone(s *source) func() bool {
	return func() bool {
		p := s.Progress()
		return len(p.Tables) > 0 && p.Tables[len(p.Tables)-1].State == "done"
	}
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
	all := readUntil(t, s, write, snapshotDone(s))
	all = append(all, readQuiet(t, s, 500*time.Millisecond)...)
	m := mirror{}
	m.apply(all)
	if d := m.diff(origin(t, db)); d != "" {
		t.Fatalf("after %d records and %d writes the mirror differs: %s", len(all), step, d)
	}
	snaps := 0
	for _, r := range all {
		if r.Op == sdk.OpSnapshot {
			snaps++
		}
	}
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
		m := mirror{}
		m.apply(all[:i+1])
		m.apply(readQuiet(t, s2, 700*time.Millisecond))
		if d := m.diff(want); d != "" {
			t.Fatalf("resumed after record %d of %d: %s", i, len(all), d)
		}
		s2.Close(t.Context())
	}
	s3 := openSource(t, raw(), all[len(all)-1].Position)
	s3.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{db + ".o"}}})
	expectQuiet(t, s3)
}

// readQuiet reads until nothing arrived for d.
func readQuiet(t *testing.T, s *source, d time.Duration) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	last := time.Now()
	for time.Since(last) < d {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		got, err := s.Read(ctx)
		cancel()
		if err != nil && !errors.Is(err, sdk.ErrBackoff) {
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		if len(got) > 0 {
			last = time.Now()
		}
		out = append(out, got...)
	}
	return out
}
