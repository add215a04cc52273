package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/pgcdc/internal/pgtest"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/jackc/pgx/v5/pgxpool"
)

// mirrorDSN is the shared PostgreSQL the sink writes to; the origin is this
// package's private server.
const mirrorDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var server *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if server, err = pgtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "postgres-cdc e2e tests need a private PostgreSQL server:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = server.Stop()
	os.Exit(code)
}

func pool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	db, err := pgxpool.New(context.Background(), dsn)
	if err == nil {
		err = db.Ping(context.Background())
	}
	if err != nil {
		t.Fatalf("PostgreSQL at %s is needed by this test: %v", strings.SplitN(dsn, "@", 2)[1], err)
	}
	t.Cleanup(db.Close)
	return db
}

func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func exec(t *testing.T, db *pgxpool.Pool, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func startEngine(t *testing.T, dataDir, yaml string) *engine.Engine {
	t.Helper()
	builtin.RegisterConverters()
	eng, err := engine.Start(context.Background(), engine.Options{Plugins: builtin.Plugins(), DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	p, lints := pipelines.Parse("e2e.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
	for _, l := range lints {
		t.Fatalf("%s\n%s", l.String(), yaml)
	}
	if _, err := eng.Apply(context.Background(), p, false); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return eng
}

func closeEngine(t *testing.T, eng *engine.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eng.Close(ctx); err != nil {
		t.Errorf("close engine: %v", err)
	}
}

// rows reads a table as comparable text, ordered by id.
func rows(ctx context.Context, db *pgxpool.Pool, table string) ([][]string, error) {
	r, err := db.Query(ctx, `SELECT id::text, coalesce(name, 'NULL'), coalesce(amount::text, 'NULL'),
		coalesce(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'NULL'),
		coalesce(doc::jsonb::text, 'NULL'), coalesce(encode(data, 'hex'), 'NULL'), coalesce(flag::text, 'NULL'), coalesce(big::text, 'NULL')
		FROM `+table+` ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][]string
	for r.Next() {
		row := make([]string, 8)
		ptrs := make([]any, 8)
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, r.Err()
}

// waitSame polls until the mirror holds exactly the origin's rows.
func waitSame(t *testing.T, eng *engine.Engine, origin, mirror *pgxpool.Pool, table string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var a, b [][]string
	for {
		var err error
		a, err = rows(context.Background(), origin, table)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = rows(context.Background(), mirror, table) // missing until the first write
		if reflect.DeepEqual(a, b) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling interval, with the deadline above
	}
	diff := 0
	for i := 0; i < len(a) && i < len(b) && diff < 5; i++ {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Errorf("row %d: origin %v, mirror %v", i, a[i], b[i])
			diff++
		}
	}
	t.Fatalf("after 90 s the mirror has %d rows, the origin %d; engine status %+v", len(b), len(a), eng.Status())
}

const ddl = `CREATE TABLE %s (id int8 PRIMARY KEY, name text, amount numeric(14,2), at timestamptz,
	doc jsonb, data bytea, flag bool, big int8)`

// mirrorPipeline is the pipeline origin table → topic → jdbc-sink mirror,
// with more source settings (extra: "k: v, k2: v2").
func mirrorPipeline(table, slot, extra string) string {
	topic := strings.ReplaceAll(table, "_", "-")
	if extra != "" {
		extra += ", "
	}
	return fmt.Sprintf(`version: 1
name: %s
topics:
  %s: { partitions: 2 }
sources:
  src:
    connector: postgres-cdc
    topic: %s
    config: { dsn: %q, tables: [public.%s], slot: %s, %sheartbeat.interval: 1s }
sinks:
  dst:
    connector: jdbc-sink
    topics: [%s]
    config: { dsn: %q, insert.mode: upsert, delete.enabled: true, auto.create: true, table.name.format: %s }
`, topic, topic, topic, server.DSN("postgres"), table, slot, extra, topic, mirrorDSN, table)
}

// originTable creates a table of the ddl shape with n rows on the origin,
// and drops its mirror at the end.
func originTable(t *testing.T, origin, mirror *pgxpool.Pool, prefix string, n int) string {
	t.Helper()
	table := unique(prefix)
	exec(t, origin, fmt.Sprintf(ddl, table))
	exec(t, origin, `INSERT INTO `+table+` SELECT i, 'row' || i, i * 1.25, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second',
		jsonb_build_object('i', i), decode(lpad(to_hex(i % 256), 2, '0'), 'hex'), i % 3 = 0, 9223372036854775000 + i % 700
		FROM generate_series(1, $1) i`, n)
	t.Cleanup(func() { _, _ = mirror.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	return table
}

// slotName names a slot that is dropped at the end.
func slotName(t *testing.T, origin *pgxpool.Pool, prefix string) string {
	slot := unique(prefix)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = origin.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
	})
	return slot
}

// workload runs random inserts, updates and deletes of ids in [1, n].
func workload(t *testing.T, db *pgxpool.Pool, table string, n, ops int) {
	t.Helper()
	for i := 0; i < ops; i++ {
		exec(t, db, randomChange(table, n, i))
	}
}

func rnd(m int64) int64 { v, _ := rand.Int(rand.Reader, big.NewInt(m)); return v.Int64() }

// randomChange is the i-th step of a workload: an insert, update or delete
// of a random id in [1, n], now and then a transaction of two of them.
func randomChange(table string, n, i int) string {
	stmt := func(i int, id int64) string {
		switch rnd(4) {
		case 0:
			return fmt.Sprintf(`DELETE FROM %s WHERE id = %d`, table, id)
		case 1:
			return fmt.Sprintf(`UPDATE %s SET name = name || 'u', amount = amount + 0.01, doc = jsonb_set(coalesce(doc, '{}'), '{n}', to_jsonb(%d)) WHERE id = %d`, table, i, id)
		}
		return fmt.Sprintf(`INSERT INTO %s VALUES (%d, 'n%d', %d.37, now(), '{"i": %d}', '\x%02x', %t, %d)
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, big = EXCLUDED.big`, table, id, i, i, i, i%256, i%2 == 0, int64(9223372036854775000)+int64(i%700))
	}
	q := stmt(i, rnd(int64(n))+1)
	if rnd(5) == 0 { // a transaction of two changes
		q = "BEGIN; " + q + "; " + stmt(i, rnd(int64(n))+1) + "; COMMIT"
	}
	return q
}

// TestMirrorSnapshotStreamRestart snapshots a table while writes go on,
// streams the changes into a jdbc-sink mirror, stops the engine, writes
// more and starts it again: each time the mirror must equal the origin.
func TestMirrorSnapshotStreamRestart(t *testing.T) {
	origin, mirror := pool(t, server.DSN("postgres")), pool(t, mirrorDSN)
	table := originTable(t, origin, mirror, "cdc_mirror_", 3000)
	slot := slotName(t, origin, "e2e_")
	yaml := mirrorPipeline(table, slot, "snapshot.chunk.size: 250")
	dataDir := t.TempDir()
	eng := startEngine(t, dataDir, yaml)
	workload(t, origin, table, 3500, 300) // during the snapshot
	waitSame(t, eng, origin, mirror, table)
	workload(t, origin, table, 3500, 200)
	waitSame(t, eng, origin, mirror, table)
	// The log acknowledged everything: the slot is confirmed past the
	// snapshot's consistent point, so a restart does not replay it all.
	var moved bool
	for deadline := time.Now().Add(20 * time.Second); !moved && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_ = origin.QueryRow(context.Background(), `SELECT confirmed_flush_lsn >= pg_current_wal_insert_lsn() - 100000
			FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&moved)
	}
	if !moved {
		t.Fatal("the slot's confirmed position did not follow the acknowledged records")
	}
	closeEngine(t, eng)

	workload(t, origin, table, 3500, 200) // while stopped
	eng = startEngine(t, dataDir, yaml)
	defer closeEngine(t, eng)
	workload(t, origin, table, 3500, 100)
	waitSame(t, eng, origin, mirror, table)
}

// TestSlotDropOnDelete: deleting the connector drops its slot only with
// slot.drop.on.delete; stopping the engine never does.
func TestSlotDropOnDelete(t *testing.T) {
	origin := pool(t, server.DSN("postgres"))
	table := unique("cdc_drop_")
	exec(t, origin, `CREATE TABLE `+table+` (id int8 PRIMARY KEY, name text)`)
	exec(t, origin, `INSERT INTO `+table+` VALUES (1, 'a')`)
	slotExists := func(slot string) bool {
		var n int
		if err := origin.QueryRow(context.Background(), `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, drop := range []bool{false, true} {
		slot := unique("drop_")
		t.Cleanup(func() { _, _ = origin.Exec(context.Background(), "SELECT pg_drop_replication_slot($1)", slot) })
		topic := strings.ReplaceAll(slot, "_", "-")
		eng := startEngine(t, t.TempDir(), fmt.Sprintf(`version: 1
name: %s
topics:
  %s:
sources:
  src:
    connector: postgres-cdc
    topic: %s
    config: { dsn: %q, tables: [public.%s], slot: %s, slot.drop.on.delete: %v, heartbeat.interval: 0s }
`, topic, topic, topic, server.DSN("postgres"), table, slot, drop))
		for deadline := time.Now().Add(30 * time.Second); !slotExists(slot); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("slot %s not created in 30 s; engine status %+v", slot, eng.Status())
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		if err := eng.Worker.Delete(ctx, "src"); err != nil {
			t.Fatal(err)
		}
		cancel()
		closeEngine(t, eng)
		if got := slotExists(slot); got == drop {
			t.Fatalf("slot.drop.on.delete %v: after the delete the slot exists = %v", drop, got)
		}
	}
}

// TestOneTopicManyTables captures two tables into one topic and mirrors
// both with one jdbc-sink whose table.name.format is ${source.table}.
func TestOneTopicManyTables(t *testing.T) {
	origin, mirror := pool(t, server.DSN("postgres")), pool(t, mirrorDSN)
	prefix := unique("cdc_many_")
	tables := []string{prefix + "_a", prefix + "_b"}
	for _, table := range tables {
		exec(t, origin, fmt.Sprintf(ddl, table))
		exec(t, origin, `INSERT INTO `+table+` SELECT i, 'row' || i, i * 1.25, now(), '{}', '\x00', true, i FROM generate_series(1, 500) i`)
		t.Cleanup(func() { _, _ = mirror.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	}
	slot := unique("e2e_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = origin.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
	})
	topic := strings.ReplaceAll(prefix, "_", "-")
	yaml := fmt.Sprintf(`version: 1
name: %s
topics:
  %s: { partitions: 2 }
sources:
  src:
    connector: postgres-cdc
    topic: %s
    config: { dsn: %q, tables: [public.%s_*], slot: %s, heartbeat.interval: 1s }
sinks:
  dst:
    connector: jdbc-sink
    topics: [%s]
    config: { dsn: %q, insert.mode: upsert, delete.enabled: true, auto.create: true, table.name.format: "${source.table}" }
`, topic, topic, topic, server.DSN("postgres"), prefix, slot, topic, mirrorDSN)
	eng := startEngine(t, t.TempDir(), yaml)
	defer closeEngine(t, eng)
	for _, table := range tables {
		workload(t, origin, table, 700, 150)
	}
	for _, table := range tables {
		waitSame(t, eng, origin, mirror, table)
	}
}

// TestIncrementalSnapshotMirror: a source that never snapshotted
// (snapshot.mode never) is asked through the worker for an incremental
// snapshot, as POST /connectors/src/snapshot does, while writes go on: the
// mirror ends equal to the origin, rows that existed before the source
// started included, and the status reports the table done.
func TestIncrementalSnapshotMirror(t *testing.T) {
	origin, mirror := pool(t, server.DSN("postgres")), pool(t, mirrorDSN)
	table := originTable(t, origin, mirror, "cdc_inc_", 2000)
	slot := slotName(t, origin, "inc_")
	eng := startEngine(t, t.TempDir(), mirrorPipeline(table, slot, "snapshot.mode: never, snapshot.chunk.size: 300"))
	defer closeEngine(t, eng)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var n int
		_ = origin.QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot %s not created in 30 s; engine status %+v", slot, eng.Status())
		}
	}
	workload(t, origin, table, 2500, 50) // streamed: the mirror has only these
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if id, err := eng.Worker.Snapshot(ctx, "src", []string{"public." + table}); err != nil || id != 1 {
		t.Fatalf("snapshot request: %d %v", id, err)
	}
	workload(t, origin, table, 2500, 300)
	waitSame(t, eng, origin, mirror, table)
	st, err := eng.Worker.StatusContext(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Progress; p == nil || len(p.Tables) != 1 || p.Tables[0].State != "done" || p.Tables[0].Done < 1500 {
		t.Fatalf("progress %+v", p)
	}
}
