package mysqlcdc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

func fill(t *testing.T, db, table string, n int, row func(i int) string) {
	t.Helper()
	var vals []string
	for i := 1; i <= n; i++ {
		vals = append(vals, row(i))
	}
	exec(t, db, "INSERT INTO "+table+" VALUES "+strings.Join(vals, ","))
}

// A snapshot restarted from any record's position continues with the next
// row, across chunk and table boundaries and with a composite key, and then
// streams the changes made since it began.
func TestSnapshotResume(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE a (k1 VARCHAR(5), k2 INT, v INT, PRIMARY KEY (k1, k2))", "CREATE TABLE b (id INT PRIMARY KEY)",
		"CREATE TABLE skipped (id INT PRIMARY KEY)", "INSERT INTO skipped VALUES (1)")
	fill(t, db, "a", 12, func(i int) string { return fmt.Sprintf("('k%d', %d, %d)", i%3, i, i) })
	fill(t, db, "b", 5, func(i int) string { return fmt.Sprintf("(%d)", i) })
	raw := func() map[string]any {
		return map[string]any{"tables": []any{db + ".*"}, "exclude.tables": []any{db + ".skipped"}, "snapshot.chunk.size": 4, "batch.max.rows": 3}
	}
	s := openSource(t, raw(), nil)
	all := readN(t, s, 17)
	if p := s.Progress(); p.Done != 17 {
		t.Errorf("progress %+v", p)
	}
	s.Close(t.Context())
	for _, r := range all {
		if r.Op != sdk.OpSnapshot {
			t.Fatalf("%s %s", r.Op, r.Key)
		}
	}
	if string(all[0].Key) != `{"k1":"k0","k2":3}` || string(all[12].Key) != `{"id":1}` {
		t.Fatalf("order: first %s, thirteenth %s", all[0].Key, all[12].Key)
	}
	exec(t, db, "INSERT INTO b VALUES (6)")
	for _, i := range []int{0, 3, 4, 11, 12, 16} {
		s2 := openSource(t, raw(), all[i].Position)
		rest := readN(t, s2, len(all)-i-1+2)
		for j, r := range rest[:len(all)-i-1] {
			if string(r.Key) != string(all[i+1+j].Key) {
				t.Fatalf("resumed after record %d: record %d is %s, want %s", i, j, r.Key, all[i+1+j].Key)
			}
		}
		// The insert made after the snapshot began: the resumed snapshot
		// reads it, and streaming from the snapshot's start replays it.
		seen, replayed := rest[len(rest)-2], rest[len(rest)-1]
		if seen.Op != sdk.OpSnapshot || string(seen.Key) != `{"id":6}` || replayed.Op != sdk.OpCreate || string(replayed.Key) != `{"id":6}` {
			t.Fatalf("after the snapshot: %s %s, %s %s", seen.Op, seen.Key, replayed.Op, replayed.Key)
		}
		s2.Close(t.Context())
	}
}

// initial_only ends after the snapshot.
func TestSnapshotInitialOnly(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE x (id INT PRIMARY KEY)", "INSERT INTO x VALUES (1), (2)")
	s := openSource(t, map[string]any{"tables": []any{db + ".x"}, "snapshot.mode": "initial_only"}, nil)
	if recs := readN(t, s, 2); len(recs) != 2 {
		t.Fatal(len(recs))
	}
	_, err := s.Read(t.Context())
	if err != sdk.ErrEndOfInput {
		t.Fatalf("after the snapshot: %v", err)
	}
}
