package jdbc

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

const (
	mysqlDSN = "root@tcp(127.0.0.1:3306)/test?parseTime=true&loc=UTC"
	pgDSN    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

var dialects = []struct {
	name string
	d    Dialect
	dsn  string
}{{"mysql", MySQL, mysqlDSN}, {"postgres", Postgres, pgDSN}}

func dsnOf(d Dialect) string {
	if d == MySQL {
		return mysqlDSN
	}
	return pgDSN
}

// openDB connects to a test database; an unreachable database fails the test.
func openDB(t testing.TB, d Dialect) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, d, dsnOf(d), nil)
	if err != nil {
		t.Fatalf("%s must be running for this test: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tableName returns a unique table name and drops the table when the test ends.
func tableName(t testing.TB, db *sql.DB, d Dialect, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	t.Cleanup(func() { dropTable(db, d, name) })
	return name
}

func dropTable(db *sql.DB, d Dialect, name string) {
	_, _ = db.Exec("DROP TABLE IF EXISTS " + d.Quote(name))
}

func mustExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestSource(t testing.TB, raw map[string]any) *source {
	t.Helper()
	cfg, err := sourceSpec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSource(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestSink(t testing.TB, raw map[string]any) *sink {
	t.Helper()
	cfg, err := sinkSpec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSink(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// readAll reads from an opened source until a poll round finds nothing.
func readAll(t testing.TB, s *source) []sdk.Record {
	t.Helper()
	ctx := ctxT(t)
	var out []sdk.Record
	for {
		recs, err := s.Read(ctx)
		if errors.Is(err, sdk.ErrBackoff) {
			return out
		}
		if err != nil {
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
	}
}

func countRows(t testing.TB, db *sql.DB, d Dialect, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + d.Quote(table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
