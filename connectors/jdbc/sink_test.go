package jdbc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
	"github.com/braidhq/braid/schema"
)

func keyed(id int, fields map[string]any) sdk.Record {
	return sdk.Record{Topic: "t", Key: []byte(fmt.Sprintf(`{"id":%d}`, id)), Fields: fields}
}

func TestSinkConformance(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "sconf")
			var recs []sdk.Record
			for i := 1; i <= 5; i++ {
				recs = append(recs, keyed(i, map[string]any{"name": fmt.Sprint("n", i), "amount": float64(i) + 0.5}))
			}
			sdktest.RunSink(t, SinkPlugin(), sdktest.SinkCase{
				Config:  map[string]any{"dsn": tc.dsn, "auto.create": true, "table.name.format": name},
				Records: recs,
				Check: func(t *testing.T, written []sdk.Record) {
					if n := countRows(t, db, tc.d, name); n != 5 {
						t.Errorf("table has %d rows, want 5", n)
					}
				},
			})
		})
	}
}

func TestSinkConfigErrorsNameFields(t *testing.T) {
	for raw, field := range map[string]string{
		`{"pk.mode":"none"}`: "pk.mode",
		`{"pk.mode":"none","insert.mode":"insert","delete.enabled":true}`: "delete.enabled",
		`{"insert.mode":"merge"}`: "insert.mode",
		`{"batch.size":-1}`:       "batch.size",
	} {
		m := map[string]any{"dsn": pgDSN}
		for _, kv := range strings.Split(strings.Trim(raw, "{}"), ",") {
			k, v, _ := strings.Cut(kv, ":")
			var val any = strings.Trim(v, `"`)
			if v == "true" {
				val = true
			} else if v == "-1" {
				val = -1
			}
			m[strings.Trim(k, `"`)] = val
		}
		_, err := sinkSpec.Validate(m)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: want a config error naming %s, got %v", raw, field, err)
		}
	}
}

// TestSinkUpsertIdempotent writes the same batch twice (as after a replay)
// and then changed values: one row per key, the last values win.
func TestSinkUpsertIdempotent(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "upsert")
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "auto.create": true, "table.name.format": name, "batch.size": 7})
			batch := func(v string) []sdk.Record {
				var recs []sdk.Record
				for i := 0; i < 50; i++ {
					recs = append(recs, keyed(i%20, map[string]any{"v": fmt.Sprint(v, i)}))
				}
				return recs
			}
			for _, v := range []string{"a", "a", "b"} {
				if err := snk.Write(ctxT(t), batch(v)); err != nil {
					t.Fatal(err)
				}
				if err := snk.Flush(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
			if n := countRows(t, db, tc.d, name); n != 20 {
				t.Fatalf("%d rows, want 20", n)
			}
			if snk.bulkFallbacks == 0 {
				t.Errorf("rewriting existing keys never left the bulk path")
			}
			var v string
			if err := db.QueryRow(fmt.Sprintf("SELECT v FROM %s WHERE id = 5", tc.d.Quote(name))).Scan(&v); err != nil || v != "b45" {
				t.Fatalf("row 5 has v=%q (%v), want b45 (the last write of key 5)", v, err)
			}
		})
	}
}

// TestSinkBadRecordsDeadLettered sends values the column types refuse among
// good ones: only the bad records come back, by index, the rest are written.
func TestSinkBadRecordsDeadLettered(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "bad")
			mustExec(t, db, fmt.Sprintf("CREATE TABLE %s (id BIGINT PRIMARY KEY, n INT NOT NULL, s VARCHAR(5))", tc.d.Quote(name)))
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "table.name.format": name})
			recs := []sdk.Record{
				keyed(1, map[string]any{"n": 1, "s": "ok"}),
				keyed(2, map[string]any{"n": "not a number", "s": "ok"}),
				keyed(3, map[string]any{"n": 3, "s": "much too long"}),
				{Topic: "t", Fields: map[string]any{"n": 4}}, // no key
				keyed(5, map[string]any{"n": 5, "nope": 1}),  // unknown column, auto.evolve off
				keyed(6, map[string]any{"n": 6, "s": "fine"}),
			}
			err := snk.Write(ctxT(t), recs)
			var be *sdk.BatchError
			if !errors.As(err, &be) {
				t.Fatalf("want a BatchError, got %v", err)
			}
			var idx []int
			for _, r := range be.Records {
				idx = append(idx, r.Index)
			}
			if fmt.Sprint(idx) != "[3 4 1 2]" && fmt.Sprint(sorted(idx)) != "[1 2 3 4]" {
				t.Fatalf("failed records %v (%v), want 1 2 3 4", idx, err)
			}
			if err := snk.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, db, tc.d, name); n != 2 {
				t.Fatalf("%d rows written, want 2", n)
			}
		})
	}
}

func sorted(a []int) []int {
	for i := range a {
		for j := i + 1; j < len(a); j++ {
			if a[j] < a[i] {
				a[i], a[j] = a[j], a[i]
			}
		}
	}
	return a
}

// TestSinkInjectionNames writes to a table and columns whose names try SQL
// injection: quoting makes them plain names; impossible names are refused.
func TestSinkInjectionNames(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			victim := tableName(t, db, tc.d, "victim")
			mustExec(t, db, fmt.Sprintf("CREATE TABLE %s (id INT)", tc.d.Quote(victim)))
			evil := "x\"`; DROP TABLE " + victim + "; --"
			t.Cleanup(func() { dropTable(db, tc.d, evil) })
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "auto.create": true, "auto.evolve": true, "table.name.format": evil})
			rec := sdk.Record{Topic: "t", Key: []byte(`{"id":1}`), Fields: map[string]any{
				"a`b\"c'd": "v1", "e); DROP TABLE " + victim + "; --": "v2"}}
			if err := snk.Write(ctxT(t), []sdk.Record{rec}); err != nil {
				t.Fatal(err)
			}
			if err := snk.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, db, tc.d, evil); n != 1 {
				t.Fatalf("%d rows in the oddly named table, want 1", n)
			}
			countRows(t, db, tc.d, victim) // still there
			bad := sdk.Record{Topic: "t", Key: []byte(`{"id":2}`), Fields: map[string]any{"nul\x00name": 1}}
			var be *sdk.BatchError
			if err := snk.Write(ctxT(t), []sdk.Record{bad}); !errors.As(err, &be) || !strings.Contains(err.Error(), "NUL") {
				t.Fatalf("a column name with a NUL byte: want a record error, got %v", err)
			}
		})
	}
}

func TestSinkDeletesAndEvolve(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "evolve")
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "auto.create": true, "auto.evolve": true,
				"delete.enabled": true, "table.name.format": name, "pk.mode": "record_value", "pk.fields": "k"})
			sch := &schema.Schema{Fields: []schema.Field{{Name: "k", Type: schema.String}, {Name: "n", Type: schema.Int64, Optional: true}}}
			recs := []sdk.Record{
				{Topic: "t", Fields: map[string]any{"k": "a", "n": int64(1)}, Schema: sch},
				{Topic: "t", Fields: map[string]any{"k": "b", "n": int64(2)}, Schema: sch},
				{Topic: "t", Fields: map[string]any{"k": "c", "n": int64(3), "extra": "x"}},
				{Topic: "t", Op: sdk.OpDelete, Before: map[string]any{"k": "a"}},
			}
			if err := snk.Write(ctxT(t), recs); err != nil {
				t.Fatal(err)
			}
			if err := snk.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			var extra string
			if err := db.QueryRow(fmt.Sprintf("SELECT extra FROM %s WHERE k = 'c'", tc.d.Quote(name))).Scan(&extra); err != nil || extra != "x" {
				t.Fatalf("evolved column: %q %v", extra, err)
			}
			if n := countRows(t, db, tc.d, name); n != 2 {
				t.Fatalf("%d rows, want 2 after the delete", n)
			}
		})
	}
}
