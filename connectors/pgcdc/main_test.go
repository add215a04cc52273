package pgcdc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/pgcdc/internal/pgtest"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// server is this package's private PostgreSQL (wal_level=logical).
var server *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	server, err = pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "postgres-cdc tests need a private PostgreSQL server:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := server.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
	}
	os.Exit(code)
}

func testDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	db, err := pgxpool.New(t.Context(), server.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func execSQL(t *testing.T, db *pgxpool.Pool, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// baseConfig captures one table with its own slot.
func baseConfig(table, slot string, more map[string]any) map[string]any {
	c := map[string]any{"dsn": server.DSN("postgres"), "tables": []any{"public." + table}, "slot": slot, "heartbeat.interval": "0s"}
	for k, v := range more {
		c[k] = v
	}
	return c
}

func openSource(t *testing.T, raw map[string]any, pos sdk.Position) *source {
	t.Helper()
	cfg, err := spec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	src := newSource(parseConfig(cfg, sdk.Env{Connector: "test"}), sdk.Env{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := src.Open(ctx, pos); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { src.Close(context.Background()) })
	return src
}

func dropSlotLater(t *testing.T, db *pgxpool.Pool, slot string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			_, err := db.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active", slot)
			var n int
			_ = db.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&n)
			if err == nil && n == 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// readN reads until n records arrived or the deadline passed.
func readN(t *testing.T, src sdk.Source, n int) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []sdk.Record
	for len(out) < n {
		recs, err := src.Read(ctx)
		if errors.Is(err, sdk.ErrBackoff) {
			continue
		}
		if errors.Is(err, sdk.ErrEndOfInput) {
			out = append(out, recs...)
			break
		}
		if err != nil {
			t.Fatalf("read after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	if len(out) < n {
		t.Fatalf("got %d records, want %d", len(out), n)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = sdktest.NewMemStore
