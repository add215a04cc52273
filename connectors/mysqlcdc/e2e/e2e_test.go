package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/mysqlcdc/internal/mariadbtest"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
)

// mirrorDSN is the shared loopback MariaDB the mirror tables go to.
const mirrorDSN = "root@tcp(127.0.0.1:3306)/test?parseTime=true&loc=UTC"

var origin *mariadbtest.Server

func TestMain(m *testing.M) {
	var err error
	origin, err = mariadbtest.Start(2)
	if err != nil {
		fmt.Fprintln(os.Stderr, "private MariaDB:", err)
		os.Exit(1)
	}
	code := m.Run()
	origin.Stop()
	os.Exit(code)
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("MariaDB at %s is needed by this test: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Errorf("%s: %v", q, err)
	}
}

func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// startEngine applies the pipeline origin table → topic → mirror table.
func startEngine(t *testing.T, dataDir, name, table, mirror string) *engine.Engine {
	t.Helper()
	return startEngineWith(t, dataDir, name, table, mirror, "")
}

// startEngineWith is startEngine with more source settings (", k: v").
func startEngineWith(t *testing.T, dataDir, name, table, mirror, extra string) *engine.Engine {
	t.Helper()
	builtin.RegisterConverters()
	eng, err := engine.Start(t.Context(), engine.Options{Plugins: builtin.Plugins(), DataDir: dataDir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`version: 1
name: %s
topics:
  %s: { partitions: 2 }
sources:
  cdc:
    connector: mysql-cdc
    topic: %s
    config: { dsn: %q, tables: [%s], snapshot.chunk.size: 97, server.id: 4242%s }
sinks:
  mirror:
    connector: jdbc-sink
    topics: [%s]
    config: { dsn: %q, insert.mode: upsert, pk.mode: record_key, delete.enabled: true, auto.create: true, auto.evolve: true, table.name.format: %s }
`, name, name, name, origin.DSN(""), "shop."+table, extra, name, mirrorDSN, mirror)
	p, lints := pipelines.Parse("e2e.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
	for _, l := range lints {
		t.Fatalf("%s\n%s", l.String(), yaml)
	}
	if _, err := eng.Apply(t.Context(), p, false); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return eng
}

func stopEngine(t *testing.T, eng *engine.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := eng.Close(ctx); err != nil {
		t.Errorf("close engine: %v", err)
	}
}

func rows(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	r, err := db.QueryContext(t.Context(), "SELECT id, v, amt, at FROM "+table+" ORDER BY id")
	if err != nil {
		return nil // the mirror table appears with the sink's first write
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var id int64
		var v, amt sql.NullString
		var at sql.NullTime
		if err := r.Scan(&id, &v, &amt, &at); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d|%v|%v|%v", id, v, amt, at.Time.UTC().Format(time.RFC3339Nano)))
	}
	return out
}

// waitEqual polls until the mirror holds the origin's rows.
func waitEqual(t *testing.T, src, dst *sql.DB, table, mirror string, eng *engine.Engine) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var a, b []string
	for time.Now().Before(deadline) {
		a, b = rows(t, src, "shop."+table), rows(t, dst, mirror)
		if strings.Join(a, "\n") == strings.Join(b, "\n") {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling, with the deadline above
	}
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] && n < 5 {
			t.Errorf("row %d: origin %s, mirror %s", i, a[i], b[i])
			n++
		}
	}
	t.Fatalf("mirror differs after 60 s: origin %d rows, mirror %d; status %+v", len(a), len(b), eng.Status())
}

// workload inserts, updates and deletes n times at random.
func workload(t *testing.T, db *sql.DB, next *int64, n int) {
	for range n {
		k, _ := rand.Int(rand.Reader, big.NewInt(*next))
		id := k.Int64() + 1
		switch id % 3 {
		case 0:
			exec(t, db, "INSERT INTO shop."+tableName+" (id, v, amt, at) VALUES (?, ?, ?, NOW(6))", *next+1, "new", fmt.Sprintf("%d.25", id))
			*next++
		case 1:
			exec(t, db, "UPDATE shop."+tableName+" SET v = CONCAT(v, '+'), amt = amt + 1.01, at = NOW(6) WHERE id = ?", id)
		default:
			exec(t, db, "DELETE FROM shop."+tableName+" WHERE id = ?", id)
		}
	}
}

var tableName string

// orders creates the origin table (named tableName) with n rows and names
// a mirror table, dropped at the end.
func orders(t *testing.T, prefix, mirrorPrefix string, n int) (src, dst *sql.DB, mirror string) {
	src, dst = openDB(t, origin.DSN("")), openDB(t, mirrorDSN)
	tableName, mirror = unique(prefix), unique(mirrorPrefix)
	t.Cleanup(func() { _, _ = dst.Exec("DROP TABLE IF EXISTS " + mirror) })
	exec(t, src, "CREATE DATABASE IF NOT EXISTS shop")
	exec(t, src, "CREATE TABLE shop."+tableName+" (id BIGINT PRIMARY KEY, v VARCHAR(200), amt DECIMAL(12,2), at DATETIME(6))")
	for i := 0; i < n; i += 200 {
		var vals []string
		for j := i + 1; j <= min(i+200, n); j++ {
			vals = append(vals, fmt.Sprintf("(%d, 'v%d', %d.50, '2024-01-02 03:04:05.123456')", j, j, j))
		}
		exec(t, src, "INSERT INTO shop."+tableName+" VALUES "+strings.Join(vals, ","))
	}
	return src, dst, mirror
}

// The snapshot runs while writes go on; the mirror ends equal to the origin.
// The engine then stops, more writes happen, and a new engine on the same
// data directory resumes from the stored position without losing any.
func TestMirrorSnapshotStreamRestart(t *testing.T) {
	src, dst, mirror := orders(t, "orders_", "mycdc_mirror_", 2000)
	next := int64(2000)

	dataDir := t.TempDir()
	eng := startEngine(t, dataDir, "mycdc-e2e", tableName, mirror)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writes during the snapshot
		defer wg.Done()
		workload(t, src, &next, 300)
	}()
	wg.Wait()
	waitEqual(t, src, dst, tableName, mirror, eng)
	stopEngine(t, eng)

	workload(t, src, &next, 200) // while nothing reads
	eng = startEngine(t, dataDir, "mycdc-e2e", tableName, mirror)
	workload(t, src, &next, 100)
	exec(t, src, "ALTER TABLE shop."+tableName+" ADD COLUMN note VARCHAR(10) DEFAULT 'x'")
	workload(t, src, &next, 100)
	waitEqual(t, src, dst, tableName, mirror, eng)
	stopEngine(t, eng)
}

// A source that never snapshotted (snapshot.mode never) is asked for an
// incremental snapshot through the worker, as POST /connectors/cdc/snapshot
// does, while writes go on: the mirror ends equal to the origin, rows
// written before the source started included, and the status reports the
// table done.
func TestIncrementalSnapshotMirror(t *testing.T) {
	src, dst, mirror := orders(t, "inc_", "mycdc_incmirror_", 1500)
	next := int64(1500)
	eng := startEngineWith(t, t.TempDir(), "mycdc-inc", tableName, mirror, ", snapshot.mode: never")
	workload(t, src, &next, 50) // streamed; the mirror has only these
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := eng.Worker.Snapshot(ctx, "cdc", []string{"shop." + tableName})
	if err != nil || id != 1 {
		t.Fatalf("snapshot request: %d %v", id, err)
	}
	workload(t, src, &next, 300)
	waitEqual(t, src, dst, tableName, mirror, eng)
	st, err := eng.Worker.StatusContext(ctx, "cdc")
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Progress; p == nil || len(p.Tables) != 1 || p.Tables[0].State != "done" || p.Tables[0].Done < 1000 {
		t.Fatalf("progress %+v", p)
	}
	stopEngine(t, eng)
}
