package jdbc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
	"github.com/braidhq/braid/schema"
)

func TestSourceConformance(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "conf")
			mustExec(t, db, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(20))", tc.d.Quote(name)))
			for i := 1; i <= 10; i++ {
				mustExec(t, db, fmt.Sprintf("INSERT INTO %s (id, v) VALUES (%d, 'v%d')", tc.d.Quote(name), i, i))
			}
			sdktest.RunSource(t, SourcePlugin(), sdktest.SourceCase{
				Config: map[string]any{"dsn": tc.dsn, "tables": []any{name}, "mode": "incrementing",
					"incrementing.column": "id", "batch.max.rows": 3, "poll.interval": "50ms"},
				Want: 10,
			})
		})
	}
}

func TestSourceConfigErrorsNameFields(t *testing.T) {
	cases := []struct {
		raw   map[string]any
		field string
	}{
		{map[string]any{"dsn": mysqlDSN}, "tables"},
		{map[string]any{"dsn": mysqlDSN, "tables": "a", "query": "SELECT 1"}, "tables"},
		{map[string]any{"dsn": mysqlDSN, "tables": "a", "mode": "incrementing"}, "incrementing.column"},
		{map[string]any{"dsn": mysqlDSN, "tables": "a", "mode": "timestamp"}, "timestamp.column"},
		{map[string]any{"dsn": mysqlDSN, "tables": "a", "dialect": "oracle"}, "dialect"},
		{map[string]any{"dsn": mysqlDSN, "tables": "a", "batch.max.rows": 0}, "batch.max.rows"},
	}
	// Validate reports them (its cross-field hook), so lint and the API do
	// before any task starts.
	for _, c := range cases {
		_, err := sourceSpec.Validate(c.raw)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%v: want a config error naming %s, got %v", c.raw, c.field, err)
		}
	}
}

// TestSourceResumeTimestampIncrementing reads rows sharing timestamps in
// small batches, reopening at every acknowledged position, and checks that
// each row arrives exactly once.
func TestSourceResumeTimestampIncrementing(t *testing.T) {
	for _, tc := range dialects {
		for _, mode := range []string{"timestamp+incrementing", "timestamp"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) { resumeTimestamp(t, tc.d, tc.dsn, mode) })
		}
	}
}

func resumeTimestamp(t *testing.T, d Dialect, dsn, mode string) {
	db := openDB(t, d)
	name := tableName(t, db, d, "resume")
	ts := "DATETIME(6)"
	if d == Postgres {
		ts = "timestamptz"
	}
	mustExec(t, db, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, updated %s NOT NULL)", d.Quote(name), ts))
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			// Four rows share each timestamp, so batches of 3 cut through ties.
			mustExec(t, db, fmt.Sprintf("INSERT INTO %s (id, updated) VALUES (%s, %s)", d.Quote(name), d.placeholder(1), d.placeholder(2)),
				i, base.Add(time.Duration(i/4)*time.Second))
		}
	}
	insert(1, 20)
	raw := map[string]any{"dsn": dsn, "tables": name, "mode": mode,
		"timestamp.column": "updated", "incrementing.column": "id", "batch.max.rows": 3, "poll.interval": "10ms"}
	seen := map[int64]int{}
	var pos sdk.Position
	for round := 0; round < 30; round++ {
		if round == 5 {
			insert(21, 30)
		}
		src := newTestSource(t, raw)
		if err := src.Open(ctxT(t), pos); err != nil {
			t.Fatal(err)
		}
		recs, err := src.Read(ctxT(t))
		src.Close(context.Background())
		if errors.Is(err, sdk.ErrBackoff) && round > 5 {
			break
		}
		if err != nil && !errors.Is(err, sdk.ErrBackoff) {
			t.Fatal(err)
		}
		for _, r := range recs {
			id, _ := toInt64(r.Fields["id"])
			seen[id]++
		}
		if len(recs) > 0 {
			pos = recs[len(recs)-1].Position
		}
	}
	for i := int64(1); i <= 30; i++ {
		if seen[i] != 1 {
			t.Errorf("row %d read %d times", i, seen[i])
		}
	}
}

func TestSourceSnapshotProgressAndSchemas(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "prog")
			mustExec(t, db, fmt.Sprintf("CREATE TABLE %s (a INT NOT NULL, b VARCHAR(10) NOT NULL, n DECIMAL(8,3), PRIMARY KEY (a, b))", tc.d.Quote(name)))
			for i := 0; i < 25; i++ {
				mustExec(t, db, fmt.Sprintf("INSERT INTO %s VALUES (%d, 'k%d', %d.125)", tc.d.Quote(name), i%5, i, i))
			}
			if tc.d == Postgres {
				mustExec(t, db, "ANALYZE "+tc.d.Quote(name))
			} else {
				mustExec(t, db, "ANALYZE TABLE "+tc.d.Quote(name))
			}
			src := newTestSource(t, map[string]any{"dsn": tc.dsn, "table.pattern": name[:len(name)-3] + "%",
				"batch.max.rows": 10, "topic": "db.${table}"})
			if err := src.Open(ctxT(t), nil); err != nil {
				t.Fatal(err)
			}
			defer src.Close(context.Background())
			if p := src.Progress(); p.Phase != "snapshot" || p.Total <= 0 {
				t.Errorf("progress before reading: %+v, want phase snapshot with an estimated total", p)
			}
			infos, err := src.Schemas(ctxT(t))
			if err != nil || len(infos) != 1 || infos[0].Topic != "db."+name {
				t.Fatalf("schemas: %+v %v", infos, err)
			}
			sch := infos[0].Schema
			if strings.Join(sch.Key, ",") != "a,b" || sch.Field("n").Type != schema.DecimalT || sch.Field("n").Scale != 3 || !sch.Field("n").Optional || sch.Field("a").Optional {
				t.Errorf("schema: %+v", sch)
			}
			recs := readAll(t, src)
			if len(recs) != 25 {
				t.Fatalf("read %d records, want 25", len(recs))
			}
			if p := src.Progress(); p.Done != 25 || p.Phase != "bulk" {
				t.Errorf("progress after reading: %+v", p)
			}
			var key map[string]any
			if err := json.Unmarshal(recs[0].Key, &key); err != nil || len(key) != 2 {
				t.Errorf("key %s: %v", recs[0].Key, err)
			}
			if recs[0].Op != sdk.OpSnapshot || recs[0].Topic != "db."+name {
				t.Errorf("record: op %q topic %q", recs[0].Op, recs[0].Topic)
			}
			if _, ok := recs[0].Fields["n"].(schema.Decimal); !ok {
				t.Errorf("decimal read as %T", recs[0].Fields["n"])
			}
		})
	}
}
