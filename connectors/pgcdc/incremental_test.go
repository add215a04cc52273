package pgcdc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/internal/incsnap/incsnaptest"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/jackc/pgx/v5/pgxpool"
)

func originRows(t *testing.T, db *pgxpool.Pool, tbl string) incsnaptest.Mirror {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT id::text, v::text FROM "+tbl)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return incsnaptest.FromRows(t, rows)
}

// An incremental snapshot requested while the slot streams, with writes
// between every Read and between a chunk's SELECT and its watermark, leaves
// an upserting mirror equal to the origin; a source reopened at a record's
// position continues to the same end; a request the position shows as taken
// up is not taken up again.
func TestIncrementalSnapshot(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("inc_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v int)")
	execSQL(t, db, "INSERT INTO "+tbl+" SELECT i, i FROM generate_series(1, 60) i")
	dropSlotLater(t, db, slot)
	raw := func() map[string]any {
		return baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never", "snapshot.chunk.size": 7})
	}
	s := openSource(t, raw(), nil)
	if err := s.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{"public.missing"}}}); err == nil {
		t.Fatal("a table outside tables was accepted")
	}
	if err := s.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{"public." + tbl}}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // the streamer's goroutine writes too
	step := 0
	write := func() {
		mu.Lock()
		defer mu.Unlock()
		step++
		switch step % 4 {
		case 0:
			execSQL(t, db, fmt.Sprintf("UPDATE %s SET v = v + 1000 WHERE id = %d", tbl, 1+(step*7)%60))
		case 1:
			execSQL(t, db, fmt.Sprintf("DELETE FROM %s WHERE id = %d", tbl, 1+(step*11)%60))
		case 2:
			execSQL(t, db, fmt.Sprintf("INSERT INTO %s VALUES (%d, %d) ON CONFLICT (id) DO UPDATE SET v = -%s.v", tbl, 100+step, step, tbl))
		case 3:
			execSQL(t, db, fmt.Sprintf("UPDATE %s SET id = id + 500 WHERE id = %d", tbl, 1+(step*13)%60))
		}
	}
	var during atomic.Bool
	during.Store(true)
	s.inc.afterRead = func() {
		if during.Load() {
			write()
			write()
		}
	}
	all := incsnaptest.ReadUntil(t, s, write, incsnaptest.SnapshotDone(s.Progress))
	during.Store(false)
	all = append(all, incsnaptest.ReadQuiet(t, s, time.Second)...)
	m := incsnaptest.Mirror{}
	m.Apply(all)
	want := originRows(t, db, tbl)
	if d := m.Diff(want); d != "" {
		t.Fatalf("after %d records the mirror differs: %s", len(all), d)
	}
	mu.Lock()
	writes := step
	mu.Unlock()
	if n := incsnaptest.Count(all, sdk.OpSnapshot); n < 30 || n > 60+writes {
		t.Fatalf("%d snapshot records after %d writes", n, writes)
	}
	if p := s.Progress(); len(p.Tables) != 1 || p.Tables[0].State != "done" || p.Tables[0].Done < 50 || p.Phase != "streaming" {
		t.Fatalf("progress %+v", p)
	}
	s.Close(context.Background())

	for _, i := range []int{0, len(all) / 3, len(all) / 2, len(all) - 1} {
		s2 := openSource(t, raw(), all[i].Position)
		_ = s2.Snapshot([]sdk.SnapshotRequest{{ID: 1, Tables: []string{"public." + tbl}}}) // handed again after each Open
		m := incsnaptest.Mirror{}
		m.Apply(all[:i+1])
		m.Apply(incsnaptest.ReadQuiet(t, s2, 1500*time.Millisecond))
		if d := m.Diff(want); d != "" {
			t.Fatalf("resumed after record %d of %d: %s", i, len(all), d)
		}
		if i == len(all)-1 && incsnaptest.Count(all[i+1:], sdk.OpSnapshot) != 0 {
			t.Fatal("a request taken up was taken up again")
		}
		s2.Close(context.Background())
	}
}
