package pgcdc

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
	"github.com/braidhq/braid/schema"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgxpool"
)

func confirmedFlush(t *testing.T, db *pgxpool.Pool, slot string) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := db.QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&s); err != nil {
		t.Fatal(err)
	}
	l, _ := pglogrepl.ParseLSN(s)
	return l
}

const typesDDL = `CREATE TABLE %s (
	id int8 PRIMARY KEY, b bool, i2 int2, i4 int4, big int8, f4 float4, f8 float8,
	n numeric(20,4), nfree numeric, d date, tm time, ts timestamp, tstz timestamptz,
	j json, jb jsonb, by bytea, t text, vc varchar(12), u uuid)`

const typesRow = `(1, true, -32768, 2147483647, 9223372036854775807, 1.5, 2.25,
	'12345678901234.5678', '0.000000000000000000001', '2024-02-29', '13:14:15.123456',
	'2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901+02',
	'{"a": [1, 2.5, "x"]}', '{"k": {"n": null}}', '\xdeadbeef', 'héllo', 'short', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')`

func checkTypes(t *testing.T, r sdk.Record) {
	t.Helper()
	want := map[string]any{
		"id": int64(1), "b": true, "i2": int32(-32768), "i4": int32(2147483647), "big": int64(9223372036854775807),
		"f4": 1.5, "f8": 2.25, "n": schema.Decimal("12345678901234.5678"), "nfree": schema.Decimal("0.000000000000000000001"),
		"d": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "tm": "13:14:15.123456",
		"ts":   time.Date(2024, 1, 2, 3, 4, 5, 678901000, time.UTC),
		"tstz": time.Date(2024, 1, 2, 1, 4, 5, 678901000, time.UTC),
		"j":    map[string]any{"a": []any{1.0, 2.5, "x"}}, "jb": map[string]any{"k": map[string]any{"n": nil}},
		"by": []byte{0xde, 0xad, 0xbe, 0xef}, "t": "héllo", "vc": "short", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
	}
	for k, w := range want {
		if g := r.Fields[k]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s %s: got %#v, want %#v", r.Op, k, g, w)
		}
	}
	types := map[string]schema.Type{"id": schema.Int64, "b": schema.Boolean, "i2": schema.Int32, "i4": schema.Int32,
		"big": schema.Int64, "f4": schema.Float32, "f8": schema.Float64, "n": schema.DecimalT, "nfree": schema.DecimalT,
		"d": schema.Date, "tm": schema.Time, "ts": schema.Timestamp, "tstz": schema.Timestamp, "j": schema.JSON,
		"jb": schema.JSON, "by": schema.Bytes, "t": schema.String, "vc": schema.String, "u": schema.String}
	for k, w := range types {
		if f := r.Schema.Field(k); f == nil || f.Type != w {
			t.Errorf("schema of %s: %v, want %s", k, f, w)
		}
	}
	if f := r.Schema.Field("n"); f.Precision != 20 || f.Scale != 4 {
		t.Errorf("numeric(20,4) became %s", f)
	}
	if f := r.Schema.Field("vc"); f.Length != 12 {
		t.Errorf("varchar(12) length %d", f.Length)
	}
	if string(r.Key) != `{"id":1}` {
		t.Errorf("key %s", r.Key)
	}
	for _, h := range []string{HeaderDB, HeaderTable, HeaderPos, HeaderTS, HeaderSchema} {
		if v, ok := r.Headers.Get(h); !ok || v == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if v, _ := r.Headers.Get(HeaderTable); v != "public."+strings.TrimPrefix(r.Schema.Name, "public.") {
		t.Errorf("table header %q", v)
	}
}

// TestTypesRoundTrip checks every common column type, in a snapshot record
// and in a streamed insert, against its exact Go value and schema type.
func TestTypesRoundTrip(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("types_"), unique("slot_")
	execSQL(t, db, strings.Replace(typesDDL, "%s", tbl, 1))
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES "+typesRow)
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, nil), nil)
	snap := readN(t, src, 1)
	if snap[0].Op != sdk.OpSnapshot {
		t.Fatalf("op %s, want snapshot", snap[0].Op)
	}
	checkTypes(t, snap[0])
	if infos, err := src.Schemas(context.Background()); err != nil || len(infos) != 1 || infos[0].Schema != snap[0].Schema {
		t.Errorf("Schemas: %v, %v", infos, err)
	}
	execSQL(t, db, "DELETE FROM "+tbl)
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES "+typesRow)
	recs := readN(t, src, 2)
	if recs[0].Op != sdk.OpDelete || recs[1].Op != sdk.OpCreate {
		t.Fatalf("ops %s %s, want delete create", recs[0].Op, recs[1].Op)
	}
	if string(recs[0].Key) != `{"id":1}` || recs[0].Fields != nil {
		t.Errorf("delete: key %s fields %v", recs[0].Key, recs[0].Fields)
	}
	checkTypes(t, recs[1])
	if v, _ := recs[1].Headers.Get(HeaderTxID); v == "" {
		t.Error("no txid header")
	}
}

// TestStreamOrder checks inserts, updates and deletes of several
// transactions arrive in commit order, with Before under REPLICA IDENTITY FULL.
func TestStreamOrder(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("order_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v text)")
	execSQL(t, db, "ALTER TABLE "+tbl+" REPLICA IDENTITY FULL")
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never"}), nil)
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (1, 'a'), (2, 'b')")
	execSQL(t, db, "BEGIN; UPDATE "+tbl+" SET v = 'c' WHERE id = 1; DELETE FROM "+tbl+" WHERE id = 2; COMMIT")
	execSQL(t, db, "UPDATE "+tbl+" SET id = 3 WHERE id = 1")
	recs := readN(t, src, 6)
	type ev struct {
		op  sdk.Operation
		key string
		v   any
	}
	var got []ev
	for _, r := range recs {
		got = append(got, ev{r.Op, string(r.Key), r.Fields["v"]})
	}
	want := []ev{{sdk.OpCreate, `{"id":1}`, "a"}, {sdk.OpCreate, `{"id":2}`, "b"}, {sdk.OpUpdate, `{"id":1}`, "c"},
		{sdk.OpDelete, `{"id":2}`, nil}, {sdk.OpDelete, `{"id":1}`, nil}, {sdk.OpUpdate, `{"id":3}`, "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if recs[2].Before["v"] != "a" || recs[3].Before["v"] != "b" {
		t.Errorf("before: %v %v", recs[2].Before, recs[3].Before)
	}
}

// TestSlotConfirmedOnlyAfterAck checks the slot does not move past records
// the worker has not acknowledged, and moves once it has.
func TestSlotConfirmedOnlyAfterAck(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("ack_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY)")
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never"}), nil)
	start := confirmedFlush(t, db, slot)
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (1)")
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (2)")
	recs := readN(t, src, 2)
	time.Sleep(2 * statusInterval) // status updates would have gone out by now
	// The slot may follow the server's WAL end past records that are not
	// transactions of ours, up to the first unacknowledged commit record's
	// start but not past it: PostgreSQL skips on restart only a transaction
	// whose commit record starts before the confirmed position, and a
	// keepalive sent while the decoder stood at that record reports it.
	var p0 position
	_ = json.Unmarshal(recs[0].Position, &p0)
	firstTx, _ := pglogrepl.ParseLSN(p0.LSN)
	if got := confirmedFlush(t, db, slot); got > firstTx {
		t.Fatalf("slot moved to %s before any ack (start %s, first transaction %s)", got, start, firstTx)
	}
	if err := src.Ack(context.Background(), recs[0].Position); err != nil {
		t.Fatal(err)
	}
	var first pglogrepl.LSN
	waitFor(t, "the slot to move past the first transaction", 10*time.Second, func() bool {
		first = confirmedFlush(t, db, slot)
		return first > firstTx
	})
	var p position
	_ = json.Unmarshal(recs[1].Position, &p)
	second, _ := pglogrepl.ParseLSN(p.LSN)
	if first > second {
		t.Fatalf("slot at %s is past the unacknowledged transaction at %s", first, second)
	}
}

// TestResumeStream stops after acknowledging part of the stream and checks
// a new source resumes at the next record, losing nothing.
func TestResumeStream(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("resume_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY)")
	dropSlotLater(t, db, slot)
	raw := baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never"})
	src := openSource(t, raw, nil)
	execSQL(t, db, "INSERT INTO "+tbl+" SELECT generate_series(1, 3)") // one transaction
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (4)")
	recs := readN(t, src, 4)
	_ = src.Ack(context.Background(), recs[1].Position) // mid-transaction
	src.Close(context.Background())
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (5)")
	src2 := openSource(t, raw, recs[1].Position)
	again := readN(t, src2, 3)
	for i, want := range []string{`{"id":3}`, `{"id":4}`, `{"id":5}`} {
		if string(again[i].Key) != want {
			t.Fatalf("after resume record %d has key %s, want %s", i, again[i].Key, want)
		}
	}
}

// TestResumeMidSnapshot stops after the first chunk and checks a new source
// goes on from the last key read, then streams.
func TestResumeMidSnapshot(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("midsnap_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (a int, b text, PRIMARY KEY (a, b))")
	execSQL(t, db, "INSERT INTO "+tbl+" SELECT i / 2, 'k' || i FROM generate_series(1, 7) i")
	dropSlotLater(t, db, slot)
	raw := baseConfig(tbl, slot, map[string]any{"snapshot.chunk.size": 3})
	src := openSource(t, raw, nil)
	first, err := src.Read(context.Background())
	if err != nil || len(first) != 3 {
		t.Fatalf("first chunk: %d records, %v", len(first), err)
	}
	src.Close(context.Background())
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (100, 'new')")
	src2 := openSource(t, raw, first[2].Position)
	rest := readN(t, src2, 5)
	var keys []string
	for _, r := range append(first, rest...) {
		keys = append(keys, string(r.Key))
	}
	want := []string{`{"a":0,"b":"k1"}`, `{"a":1,"b":"k2"}`, `{"a":1,"b":"k3"}`, `{"a":2,"b":"k4"}`, `{"a":2,"b":"k5"}`,
		`{"a":3,"b":"k6"}`, `{"a":3,"b":"k7"}`, `{"a":100,"b":"new"}`}
	if !reflect.DeepEqual(keys[:8], want) {
		t.Fatalf("keys %v\nwant %v", keys, want)
	}
}

// TestSnapshotIsConsistentPoint checks the initial snapshot reads the
// state at the slot's consistent point: a row changed after Open arrives
// once in the snapshot as it was and once as a streamed update.
func TestSnapshotIsConsistentPoint(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("cp_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v int)")
	execSQL(t, db, "INSERT INTO "+tbl+" SELECT i, 0 FROM generate_series(1, 10) i")
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"snapshot.chunk.size": 4}), nil)
	execSQL(t, db, "UPDATE "+tbl+" SET v = 1 WHERE id = 9")
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (11, 1)")
	recs := readN(t, src, 12)
	for _, r := range recs[:10] {
		if r.Op != sdk.OpSnapshot || r.Fields["v"] != int32(0) {
			t.Fatalf("snapshot record %s %v: want v 0 as at the consistent point", r.Key, r.Fields)
		}
	}
	if recs[10].Op != sdk.OpUpdate || string(recs[10].Key) != `{"id":9}` || recs[11].Op != sdk.OpCreate {
		t.Fatalf("stream after snapshot: %s %s, %s", recs[10].Op, recs[10].Key, recs[11].Op)
	}
}

// TestToastUnchangedLeftOut checks an unchanged TOASTed value is not sent
// as a placeholder: the field is absent from an update's Fields.
func TestToastUnchangedLeftOut(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("toast_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, n int, big text)")
	execSQL(t, db, "ALTER TABLE "+tbl+" ALTER COLUMN big SET STORAGE EXTERNAL")
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never"}), nil)
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (1, 0, repeat('x', 10000))")
	execSQL(t, db, "UPDATE "+tbl+" SET n = 1")
	recs := readN(t, src, 2)
	if v, _ := recs[0].Fields["big"].(string); len(v) != 10000 {
		t.Fatalf("insert carries big of %d bytes", len(v))
	}
	if _, ok := recs[1].Fields["big"]; ok {
		t.Fatalf("update carries the unchanged TOASTed column: %.40v", recs[1].Fields["big"])
	}
	if recs[1].Fields["n"] != int32(1) {
		t.Fatalf("update fields %v", recs[1].Fields)
	}
}

// TestHeartbeatAdvancesIdleSlot checks an idle slot's confirmed position
// moves with the heartbeats alone.
func TestHeartbeatAdvancesIdleSlot(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("idle_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY)")
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never", "heartbeat.interval": "100ms"}), nil)
	start := confirmedFlush(t, db, slot)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			_, _ = src.Read(ctx)
		}
	}()
	waitFor(t, "the idle slot to move", 15*time.Second, func() bool { return confirmedFlush(t, db, slot) > start })
	waitFor(t, "a retained WAL figure", 5*time.Second, func() bool { return src.RetainedBytes() >= 0 && src.retainedSeen() })
}

// TestConformanceSnapshot runs the SDK suite over snapshot records.
func TestConformanceSnapshot(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("conf_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v text)")
	execSQL(t, db, "INSERT INTO "+tbl+" SELECT i, 'v' || i FROM generate_series(1, 10) i")
	dropSlotLater(t, db, slot)
	sdktest.RunSource(t, Plugin(), sdktest.SourceCase{Config: baseConfig(tbl, slot, map[string]any{"snapshot.chunk.size": 4}), Want: 6, Timeout: 20 * time.Second})
}

// TestConformanceStream runs the SDK suite over streamed records.
func TestConformanceStream(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("confs_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v text)")
	dropSlotLater(t, db, slot)
	raw := baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never"})
	openSource(t, raw, nil).Close(context.Background()) // creates the slot
	for i := range 6 {
		execSQL(t, db, "INSERT INTO "+tbl+" VALUES ($1, 'v')", i)
	}
	sdktest.RunSource(t, Plugin(), sdktest.SourceCase{Config: raw, Want: 6, Timeout: 20 * time.Second})
}

func TestDefaultSlot(t *testing.T) {
	if got := DefaultSlot("Shop-EU", "orders.cdc"); got != "braid_shop_eu_orders_cdc" {
		t.Fatal(got)
	}
}

// TestDeleteBeforeIsKeyOnly checks a delete under REPLICA IDENTITY DEFAULT
// carries only the key in Before, not NULLs for the other columns.
func TestDeleteBeforeIsKeyOnly(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("delkey_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v text)")
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never"}), nil)
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (1, 'a')")
	execSQL(t, db, "DELETE FROM "+tbl)
	recs := readN(t, src, 2)
	if !reflect.DeepEqual(recs[1].Before, map[string]any{"id": int32(1)}) {
		t.Fatalf("delete before %v, want only the key", recs[1].Before)
	}
}

// TestSlotGone checks a stored position whose slot was dropped fails with
// a clear error, and that snapshot.mode when_needed snapshots again.
func TestSlotGone(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("gone_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY)")
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (1), (2)")
	dropSlotLater(t, db, slot)
	raw := baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never"})
	src := openSource(t, raw, nil)
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (3)")
	pos := readN(t, src, 1)[0].Position
	src.Close(context.Background())
	waitFor(t, "the slot to be dropped", 10*time.Second, func() bool {
		_, err := db.Exec(context.Background(), "SELECT pg_drop_replication_slot($1)", slot)
		return err == nil
	})
	cfg, _ := spec.Validate(raw)
	gone := newSource(parseConfig(cfg, sdk.Env{}), sdk.Env{})
	err := gone.Open(context.Background(), pos)
	gone.Close(context.Background())
	if !sdk.IsFatal(err) || !strings.Contains(err.Error(), "when_needed") {
		t.Fatalf("open with the slot gone: %v, want a fatal error naming when_needed", err)
	}
	raw["snapshot.mode"] = "when_needed"
	again := readN(t, openSource(t, raw, pos), 3)
	for _, r := range again {
		if r.Op != sdk.OpSnapshot {
			t.Fatalf("after the slot was recreated: %s %s, want a new snapshot", r.Op, r.Key)
		}
	}
}

// TestInitialOnly checks initial_only reads the rows and ends, without a slot.
func TestInitialOnly(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("once_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY)")
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (1), (2), (3)")
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"snapshot.mode": "initial_only"}), nil)
	if recs := readN(t, src, 3); len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	if _, err := src.Read(context.Background()); err != sdk.ErrEndOfInput {
		t.Fatalf("after the snapshot: %v, want end of input", err)
	}
	var n int
	_ = db.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&n)
	if n != 0 {
		t.Fatal("initial_only created a slot")
	}
}
