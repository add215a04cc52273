package mysqlcdc

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/serde"
)

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func fieldNames(r sdk.Record) []string {
	var out []string
	for _, f := range r.Schema.Fields {
		out = append(out, f.Name)
	}
	return out
}

// readErr reads until Read fails, failing if records arrive first.
func readErr(t *testing.T, s *source) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		recs, err := s.Read(ctx)
		if len(recs) > 0 {
			t.Fatalf("record %s %s before the error", recs[0].Op, recs[0].Key)
		}
		if err != nil && !errors.Is(err, sdk.ErrBackoff) {
			return err
		}
	}
}

// DDL mid-stream: each row carries the definition valid when it was
// written, JSON columns added by ALTER or CREATE are JSON at once, and
// renames move tables out of and into the captured set.
func TestDDLMidStream(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10), old INT)", "CREATE TABLE outside (id INT PRIMARY KEY, j JSON)")
	s := openSource(t, map[string]any{"tables": []any{db + ".a", db + ".n*", db + ".inside"}, "snapshot.mode": "never"}, nil)
	exec(t, db,
		"INSERT INTO a VALUES (1, 'x', 7)",
		"ALTER TABLE a ADD COLUMN j JSON",
		`INSERT INTO a VALUES (2, 'y', 8, '{"k": 1}')`,
		"ALTER TABLE a DROP COLUMN old",
		"INSERT INTO a VALUES (3, 'z', '[1]')",
		"ALTER TABLE a RENAME COLUMN v TO w",
		`INSERT INTO a VALUES (4, 'w', '"s"')`,
		"RENAME TABLE a TO gone",
		"INSERT INTO gone VALUES (5, 'no', NULL)",
		"ALTER TABLE outside ADD COLUMN IF NOT EXISTS ip INET6", // unparsable, uncaptured
		"RENAME TABLE outside TO inside",
		`INSERT INTO inside VALUES (1, '{"o": true}', NULL)`,
		"CREATE TABLE n1 (id INT PRIMARY KEY, doc JSON, t LONGTEXT)",
		`INSERT INTO n1 VALUES (1, '{"a": "b"}', '{"not": "json"}')`,
		// Logged as CREATE TABLE with the columns, then the rows; MariaDB
		// leaves the json_valid check out, so doc is LONGTEXT in n2.
		"CREATE TABLE n2 SELECT id, doc FROM n1",
		"DROP TABLE n1",
		"TRUNCATE TABLE inside", // no rows in the binlog: only a warning
		"INSERT INTO inside VALUES (2, '{}', NULL)",
	)
	recs := readN(t, s, 8)
	type want struct {
		table  string
		fields map[string]any
		cols   []string
	}
	wants := []want{
		{"a", map[string]any{"id": int32(1), "v": "x", "old": int32(7)}, []string{"id", "v", "old"}},
		{"a", map[string]any{"id": int32(2), "v": "y", "old": int32(8), "j": jsonValue(t, `{"k": 1}`)}, []string{"id", "v", "old", "j"}},
		{"a", map[string]any{"id": int32(3), "v": "z", "j": jsonValue(t, `[1]`)}, []string{"id", "v", "j"}},
		{"a", map[string]any{"id": int32(4), "w": "w", "j": "s"}, []string{"id", "w", "j"}},
		{"inside", map[string]any{"id": int32(1), "j": jsonValue(t, `{"o": true}`), "ip": nil}, []string{"id", "j", "ip"}},
		{"n1", map[string]any{"id": int32(1), "doc": jsonValue(t, `{"a": "b"}`), "t": `{"not": "json"}`}, []string{"id", "doc", "t"}},
		{"n2", map[string]any{"id": int32(1), "doc": `{"a": "b"}`}, []string{"id", "doc"}},
		{"inside", map[string]any{"id": int32(2), "j": map[string]any{}, "ip": nil}, []string{"id", "j", "ip"}},
	}
	for i, w := range wants {
		r := recs[i]
		if tbl, _ := r.Headers.Get(HeaderTable); tbl != w.table || r.Op != sdk.OpCreate {
			t.Errorf("record %d: %s on %s, want create on %s", i, r.Op, tbl, w.table)
		}
		if !reflect.DeepEqual(r.Fields, w.fields) {
			t.Errorf("record %d: fields %#v, want %#v", i, r.Fields, w.fields)
		}
		if got := fieldNames(r); !slices.Equal(got, w.cols) {
			t.Errorf("record %d: schema fields %v, want %v", i, got, w.cols)
		}
		var hdr struct{ Fields []struct{ Name string } }
		h, _ := r.Headers.Get(HeaderSchema)
		if err := json.Unmarshal([]byte(h), &hdr); err != nil || len(hdr.Fields) != len(w.cols) {
			t.Errorf("record %d: braid.schema header %s", i, h)
		}
	}
	if f := recs[5].Schema.Field("doc"); f == nil || f.Type != "json" {
		t.Errorf("n1.doc is %v", f)
	}
	p, err := decodePosition(recs[7].Position)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]tableHist{}
	for k, e := range p.Sch.Tables {
		got[k] = tableHist{V: e.V, JSON: e.JSON}
	}
	wantHist := map[string]tableHist{db + ".inside": {V: 1, JSON: []string{"j"}}, db + ".n2": {V: 1}}
	if !reflect.DeepEqual(got, wantHist) {
		t.Errorf("history in the last position %+v, want %+v", got, wantHist)
	}
	expectQuiet(t, s)
}

// A restart from a position before a DDL replays the rows before it with
// the definitions valid then: here a LONGTEXT that became JSON later, whose
// old text is no JSON and would not decode as such.
func TestDDLRestartReplaysOldDefinitions(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE h (id INT PRIMARY KEY, c LONGTEXT, e JSON)")
	cfg := func() map[string]any { return map[string]any{"tables": []any{db + ".h"}, "snapshot.mode": "never"} }
	s := openSource(t, cfg(), nil)
	exec(t, db, `INSERT INTO h VALUES (1, '"zero"', '{"e": 1}')`, "INSERT INTO h VALUES (2, 'plain text', '[2]')", "DELETE FROM h WHERE id = 2",
		"ALTER TABLE h MODIFY c JSON", `INSERT INTO h VALUES (3, '{"x": 1}', '[3]')`,
		"ALTER TABLE h CHANGE e f LONGTEXT", "INSERT INTO h VALUES (4, '[4]', 'text again')")
	first := readN(t, s, 5)
	s.Close(t.Context())
	two := map[string]any{"id": int32(2), "c": "plain text", "e": jsonValue(t, "[2]")}
	want := []map[string]any{{"id": int32(1), "c": `"zero"`, "e": jsonValue(t, `{"e": 1}`)}, two, nil,
		{"id": int32(3), "c": jsonValue(t, `{"x": 1}`), "e": jsonValue(t, "[3]")}, {"id": int32(4), "c": jsonValue(t, "[4]"), "f": "text again"}}
	for i, w := range want {
		if !reflect.DeepEqual(first[i].Fields, w) {
			t.Errorf("record %d: %#v, want %#v", i, first[i].Fields, w)
		}
	}
	if b := first[2].Before; !reflect.DeepEqual(b, two) {
		t.Errorf("delete before image %#v", b)
	}
	// Today's catalogue says c is JSON and f is not: replayed with it,
	// 'plain text' would not decode and e would be text.
	again := readN(t, openSource(t, cfg(), first[0].Position), 4)
	for i, r := range again {
		w := first[i+1]
		if r.Op != w.Op || !reflect.DeepEqual(r.Fields, w.Fields) || !reflect.DeepEqual(r.Before, w.Before) || string(r.Position) != string(w.Position) {
			t.Errorf("replayed record %d: %s %#v (before %#v), want %s %#v (before %#v)", i, r.Op, r.Fields, r.Before, w.Op, w.Fields, w.Before)
		}
	}
}

// An unparsable DDL of a captured table fails the task naming the
// statement and the position, unless schema.unparsable.ddl is skip; one of
// an uncaptured table never fails.
func TestUnparsableDDL(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE u (id INT PRIMARY KEY)", "CREATE TABLE other (id INT PRIMARY KEY)")
	cfg := func(policy string) map[string]any {
		return map[string]any{"tables": []any{db + ".u"}, "snapshot.mode": "never", "schema.unparsable.ddl": policy}
	}
	s := openSource(t, cfg("fail"), nil)
	const bad = "ALTER TABLE u ADD COLUMN ip INET6"
	exec(t, db, "INSERT INTO u VALUES (1)", "ALTER TABLE other ADD COLUMN ip INET6", "INSERT INTO u VALUES (2)",
		bad, "INSERT INTO u (id, ip) VALUES (3, '::1')")
	recs := readN(t, s, 2)
	err := readErr(t, s)
	p, _ := decodePosition(recs[1].Position)
	if !errors.Is(err, ErrUnparsableDDL) || !sdk.IsFatal(err) || !contains(err.Error(), bad) || !contains(err.Error(), p.File+":") ||
		!contains(err.Error(), db+".u") || !contains(err.Error(), "schema.unparsable.ddl: skip") {
		t.Fatalf("unparsable DDL with fail: %v", err)
	}
	// A restart meets it again.
	if err := readErr(t, openSource(t, cfg("fail"), recs[1].Position)); !errors.Is(err, ErrUnparsableDDL) {
		t.Fatalf("after a restart: %v", err)
	}
	r := readN(t, openSource(t, cfg("skip"), recs[1].Position), 1)[0]
	if r.Fields["id"] != int32(3) || r.Schema.Field("ip") == nil {
		t.Fatalf("after the skipped DDL: %#v %v", r.Fields, fieldNames(r))
	}
	pr, _ := decodePosition(r.Position)
	if e := pr.Sch.Tables[db+".u"]; e == nil || e.V != 1 || e.Unknown {
		t.Errorf("history after the skipped DDL: %+v", e)
	}
}

// The braid.schema travels with each record, so a schema-registry
// converter registers a new version under the topic's subject at the first
// row after an ALTER.
func TestDDLRegistersNewSchemaVersion(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE g (id INT PRIMARY KEY, v VARCHAR(10), w INT)")
	s := openSource(t, map[string]any{"tables": []any{db + ".g"}, "snapshot.mode": "never"}, nil)
	exec(t, db, "INSERT INTO g VALUES (1, 'a', 1)", "INSERT INTO g VALUES (2, 'b', 2)", "ALTER TABLE g DROP COLUMN w",
		"INSERT INTO g VALUES (3, 'c')")
	recs := readN(t, s, 3)
	reg := registry.New(registry.NewMemStore(), nil)
	conv, err := serde.New(reg, "avro", serde.Options{AutoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := conv.Encode(t.Context(), "cdc", r.Fields, r.Schema); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := reg.Versions(t.Context(), "cdc-value", false)
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions of cdc-value: %v %v, want two", vs, err)
	}
	v2, err := reg.Version(t.Context(), "cdc-value", vs[1], false)
	if err != nil || contains(v2.Schema.Schema, `"w"`) || !contains(v2.Schema.Schema, `"v"`) {
		t.Fatalf("second version %+v %v", v2, err)
	}
}

// A table that a changed tables setting adds gets its JSON columns from the
// catalogue; the others keep the history's.
func TestHistoryTablesSettingChanged(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE a (id INT PRIMARY KEY, j JSON)", "CREATE TABLE b (id INT PRIMARY KEY, j JSON)")
	s := openSource(t, map[string]any{"tables": []any{db + ".a"}, "snapshot.mode": "never"}, nil)
	exec(t, db, `INSERT INTO a VALUES (1, '{}')`, `INSERT INTO b VALUES (1, '[1]')`, `INSERT INTO a VALUES (2, '[2]')`)
	first := readN(t, s, 2)
	s.Close(t.Context())
	s2 := openSource(t, map[string]any{"tables": []any{db + ".a", db + ".b"}, "snapshot.mode": "never"}, first[0].Position)
	recs := readN(t, s2, 2)
	if tbl, _ := recs[0].Headers.Get(HeaderTable); tbl != "b" || !reflect.DeepEqual(recs[0].Fields["j"], jsonValue(t, "[1]")) {
		t.Errorf("the added table: %s %#v", tbl, recs[0].Fields)
	}
	if !reflect.DeepEqual(recs[1].Fields["j"], jsonValue(t, "[2]")) {
		t.Errorf("the kept table: %#v", recs[1].Fields)
	}
	p, _ := decodePosition(recs[1].Position)
	if !slices.Equal(p.Sch.In, []string{db + ".a", db + ".b"}) || p.Sch.Tables[db+".b"] == nil {
		t.Errorf("history after the change: %+v", p.Sch)
	}
}
