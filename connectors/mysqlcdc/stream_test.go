package mysqlcdc

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

const typesTable = `CREATE TABLE ty (
	id BIGINT UNSIGNED PRIMARY KEY,
	ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT, iu INT UNSIGNED, bi BIGINT,
	f FLOAT, d DOUBLE, dec1 DECIMAL(30,10), b1 BIT(1), b8 BIT(12), y YEAR,
	dt DATETIME(6), ts TIMESTAMP(3) NULL, da DATE, tm TIME(3),
	c CHAR(3), vc VARCHAR(50), tx TEXT, bn BINARY(3), vb VARBINARY(10), bl BLOB,
	e ENUM('red','green','blue'), st SET('a','b','c'), j JSON, n INT NULL
)`

const typesRow = `INSERT INTO ty VALUES (18446744073709551615,
	-128, 255, -32768, -8388608, -2147483648, 4294967295, -9223372036854775808,
	1.5, 2.25, 12345678901234567890.0123456789, b'1', b'101010101010', 2024,
	'2024-02-29 23:59:58.123456', '2024-03-01 12:00:00.5', '1999-12-31', '-12:34:56.789',
	'ab', 'héllo', 'long text', 0x000102, 0xff00, 0xdeadbeef,
	'green', 'a,c', '{"k": [1, 2.5, "x"], "big": 12345678901234567890}', NULL)`

func wantTypes() map[string]any {
	var j any
	dec := json.NewDecoder(stringReader(`{"k": [1, 2.5, "x"], "big": 12345678901234567890}`))
	dec.UseNumber()
	_ = dec.Decode(&j)
	return map[string]any{
		"id": schema.Decimal("18446744073709551615"),
		"ti": int32(-128), "tu": int32(255), "si": int32(-32768), "mi": int32(-8388608), "i": int32(-2147483648),
		"iu": int64(4294967295), "bi": int64(-9223372036854775808),
		"f": 1.5, "d": 2.25, "dec1": schema.Decimal("12345678901234567890.0123456789"), "b1": true, "b8": int64(0b101010101010),
		"y":  int32(2024),
		"dt": time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC), "ts": time.Date(2024, 3, 1, 12, 0, 0, 500000000, time.UTC),
		"da": time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), "tm": "-12:34:56.789",
		"c": "ab", "vc": "héllo", "tx": "long text", "bn": []byte{0, 1, 2}, "vb": []byte{0xff, 0}, "bl": []byte{0xde, 0xad, 0xbe, 0xef},
		"e": "green", "st": "a,c", "j": j, "n": nil,
	}
}

// Every common column type arrives with the same schema and values from the
// snapshot and from the binlog.
func TestTypes(t *testing.T) {
	t.Parallel()
	db := newDB(t, typesTable, typesRow)
	s := openSource(t, map[string]any{"tables": []any{db + ".ty"}}, nil)
	snap := readN(t, s, 1)[0]
	exec(t, db, "DELETE FROM ty", typesRow)
	recs := readN(t, s, 2)
	ins := recs[1]
	want := wantTypes()
	for name, rec := range map[string]sdk.Record{"snapshot": snap, "binlog": ins} {
		for k, w := range want {
			if got := rec.Fields[k]; !reflect.DeepEqual(got, w) {
				t.Errorf("%s: %s = %#v (%T), want %#v (%T)", name, k, got, got, w, w)
			}
		}
	}
	if snap.Op != sdk.OpSnapshot || ins.Op != sdk.OpCreate || recs[0].Op != sdk.OpDelete {
		t.Errorf("ops %s %s %s", snap.Op, recs[0].Op, ins.Op)
	}
	if !reflect.DeepEqual(snap.Schema, ins.Schema) {
		a, _ := json.Marshal(snap.Schema)
		b, _ := json.Marshal(ins.Schema)
		t.Errorf("schemas differ:\nsnapshot %s\nbinlog   %s", a, b)
	}
	types := map[string]schema.Type{"id": schema.DecimalT, "dec1": schema.DecimalT, "j": schema.JSON, "bl": schema.Bytes,
		"tx": schema.String, "ts": schema.Timestamp, "dt": schema.Timestamp, "da": schema.Date, "e": schema.String, "b1": schema.Boolean}
	for k, ty := range types {
		if f := ins.Schema.Field(k); f == nil || f.Type != ty {
			t.Errorf("field %s: %v, want type %s", k, f, ty)
		}
	}
	if f := ins.Schema.Field("dec1"); f.Precision != 30 || f.Scale != 10 {
		t.Errorf("dec1 is %s", f)
	}
	if string(ins.Key) != `{"id":"18446744073709551615"}` {
		t.Errorf("key %s", ins.Key)
	}
}

// Inserts, updates and deletes arrive in commit order with before images,
// headers and distinct positions.
func TestStreamOrder(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE o (id INT PRIMARY KEY, v VARCHAR(10))", "CREATE TABLE other (id INT PRIMARY KEY)")
	s := openSource(t, map[string]any{"tables": []any{db + ".o"}, "snapshot.mode": "never"}, nil)
	exec(t, db, "INSERT INTO o VALUES (1,'a'),(2,'b')", "INSERT INTO other VALUES (1)",
		"UPDATE o SET v='c' WHERE id=1", "DELETE FROM o WHERE id=2",
		"BEGIN", "INSERT INTO o VALUES (3,'x')", "UPDATE o SET v='y' WHERE id=3", "COMMIT")
	recs := readN(t, s, 6)
	type step struct {
		op          sdk.Operation
		key, before string
		after       string
	}
	want := []step{{sdk.OpCreate, `{"id":1}`, "", "a"}, {sdk.OpCreate, `{"id":2}`, "", "b"}, {sdk.OpUpdate, `{"id":1}`, "a", "c"},
		{sdk.OpDelete, `{"id":2}`, "b", ""}, {sdk.OpCreate, `{"id":3}`, "", "x"}, {sdk.OpUpdate, `{"id":3}`, "x", "y"}}
	seen := map[string]bool{}
	for i, r := range recs {
		got := step{op: r.Op, key: string(r.Key)}
		if r.Before != nil {
			got.before, _ = r.Before["v"].(string)
		}
		if r.Fields != nil {
			got.after, _ = r.Fields["v"].(string)
		}
		if got != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, got, want[i])
		}
		for _, h := range []string{HeaderDB, HeaderTable, HeaderPos, HeaderTS, HeaderTxID, HeaderSchema} {
			if v, ok := r.Headers.Get(h); !ok || v == "" {
				t.Errorf("record %d lacks header %s", i, h)
			}
		}
		if seen[string(r.Position)] {
			t.Errorf("record %d repeats position %s", i, r.Position)
		}
		seen[string(r.Position)] = true
	}
	if tx4, _ := recs[4].Headers.Get(HeaderTxID); tx4 != func() string { v, _ := recs[5].Headers.Get(HeaderTxID); return v }() {
		t.Errorf("one transaction, two txids")
	}
	expectQuiet(t, s)
}

// Reopening at any record's position continues with the next record, also
// in the middle of a transaction and across a binlog rotation.
func TestStreamResume(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE r (id INT PRIMARY KEY)")
	raw := func() map[string]any {
		return map[string]any{"tables": []any{db + ".r"}, "snapshot.mode": "never"}
	}
	s := openSource(t, raw(), nil)
	exec(t, db, "INSERT INTO r VALUES (1)", "BEGIN", "INSERT INTO r VALUES (2),(3)", "INSERT INTO r VALUES (4)", "COMMIT",
		"FLUSH BINARY LOGS", "INSERT INTO r VALUES (5)", "INSERT INTO r VALUES (6)")
	all := readN(t, s, 6)
	s.Close(t.Context())
	for i := 0; i < len(all)-1; i++ {
		s2 := openSource(t, raw(), all[i].Position)
		rest := readN(t, s2, len(all)-i-1)
		for j, r := range rest {
			if string(r.Key) != string(all[i+1+j].Key) || string(r.Position) != string(all[i+1+j].Position) {
				t.Fatalf("resumed after record %d: record %d is %s at %s, want %s at %s", i, j, r.Key, r.Position, all[i+1+j].Key, all[i+1+j].Position)
			}
		}
		s2.Close(t.Context())
	}
}

// An ALTER TABLE mid-stream changes the schema of the rows after it, and
// rows before it keep theirs.
func TestAlterMidStream(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE a (id INT PRIMARY KEY, v INT)")
	s := openSource(t, map[string]any{"tables": []any{db + ".a"}, "snapshot.mode": "never"}, nil)
	exec(t, db, "INSERT INTO a VALUES (1, 10)", "ALTER TABLE a ADD COLUMN w VARCHAR(5) DEFAULT 'z', MODIFY v BIGINT",
		"INSERT INTO a VALUES (2, 20, 'q')", "UPDATE a SET w = 'u' WHERE id = 1")
	recs := readN(t, s, 3)
	if recs[0].Schema.Field("w") != nil || recs[0].Fields["v"] != int32(10) {
		t.Errorf("before the ALTER: %v %v", recs[0].Fields, recs[0].Schema)
	}
	if recs[1].Fields["w"] != "q" || recs[1].Fields["v"] != int64(20) || recs[1].Schema.Field("w") == nil {
		t.Errorf("after the ALTER: %v", recs[1].Fields)
	}
	if recs[2].Before["w"] != "z" || recs[2].Fields["w"] != "u" {
		t.Errorf("update after the ALTER: before %v after %v", recs[2].Before, recs[2].Fields)
	}
}

// A purged position is an error naming it and the oldest binlog, unless
// snapshot.mode when_needed snapshots again.
func TestPurgedPosition(t *testing.T) {
	db := newDB(t, "CREATE TABLE p (id INT PRIMARY KEY)", "INSERT INTO p VALUES (1)")
	old := position{File: "mysql-bin.000000", Pos: 4}.encode()
	raw := map[string]any{"dsn": srv.DSN(""), "tables": []any{db + ".p"}, "server.id": 77}
	cfg, _ := spec.Validate(raw)
	s := newSource(parseConfig(cfg, sdk.Env{}), sdk.Env{})
	err := s.Open(t.Context(), old)
	s.Close(t.Context())
	if err == nil || !sdk.IsFatal(err) || !contains(err.Error(), "mysql-bin.000000:4") || !contains(err.Error(), "oldest binlog is mysql-bin.") {
		t.Fatalf("open at a purged position: %v", err)
	}
	s2 := openSource(t, map[string]any{"tables": []any{db + ".p"}, "snapshot.mode": "when_needed"}, old)
	if r := readN(t, s2, 1)[0]; r.Op != sdk.OpSnapshot {
		t.Fatalf("when_needed: %s", r.Op)
	}
}

// Wrong binlog settings are refused, saying what to set.
func TestSettingsChecked(t *testing.T) {
	exec(t, "", "SET GLOBAL binlog_row_image = 'MINIMAL'")
	defer exec(t, "", "SET GLOBAL binlog_row_image = 'FULL'")
	cfg, _ := spec.Validate(map[string]any{"dsn": srv.DSN(""), "tables": []any{"x.y"}})
	s := newSource(parseConfig(cfg, sdk.Env{}), sdk.Env{})
	defer s.Close(t.Context())
	err := s.Open(t.Context(), nil)
	if err == nil || !contains(err.Error(), "set binlog_row_image=FULL") {
		t.Fatalf("open with binlog_row_image MINIMAL: %v", err)
	}
}
