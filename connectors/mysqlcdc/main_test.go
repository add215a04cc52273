package mysqlcdc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/mysqlcdc/internal/mariadbtest"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

var srv *mariadbtest.Server

func TestMain(m *testing.M) {
	var err error
	srv, err = mariadbtest.Start(1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "private MariaDB:", err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

var dbSeq atomic.Int64

// newDB creates a database of its own for one test.
func newDB(t *testing.T, stmts ...string) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := srv.Exec("", "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(name, stmts...); err != nil {
		t.Fatal(err)
	}
	return name
}

func exec(t *testing.T, db string, stmts ...string) {
	t.Helper()
	if err := srv.Exec(db, stmts...); err != nil {
		t.Fatal(err)
	}
}

var serverIDs atomic.Int64

func openSource(t *testing.T, raw map[string]any, pos sdk.Position) *source {
	t.Helper()
	if _, ok := raw["dsn"]; !ok {
		raw["dsn"] = srv.DSN("")
	}
	if _, ok := raw["server.id"]; !ok {
		raw["server.id"] = 100 + serverIDs.Add(1)
	}
	cfg, err := spec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := newSource(parseConfig(cfg, sdk.Env{Connector: "test"}), sdk.Env{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Open(ctx, pos); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// readN reads until it has n records, failing after 20s.
func readN(t *testing.T, s *source, n int) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []sdk.Record
	for len(out) < n {
		recs, err := s.Read(ctx)
		switch {
		case errors.Is(err, sdk.ErrBackoff):
			continue
		case errors.Is(err, sdk.ErrEndOfInput):
			out = append(out, recs...)
			if len(out) < n {
				t.Fatalf("end of input after %d records, want %d", len(out), n)
			}
			return out
		case err != nil:
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
	}
	return out
}

// expectQuiet checks that no further record arrives for a moment.
func expectQuiet(t *testing.T, s *source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	for ctx.Err() == nil {
		recs, err := s.Read(ctx)
		if len(recs) > 0 {
			t.Fatalf("unexpected record %s %s", recs[0].Op, recs[0].Key)
		}
		if err != nil && !errors.Is(err, sdk.ErrBackoff) && ctx.Err() == nil {
			t.Fatal(err)
		}
	}
}

func TestConformance(t *testing.T) {
	db := newDB(t, "CREATE TABLE c (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO c VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d')")
	sdktest.RunSource(t, Plugin(), sdktest.SourceCase{
		Config: map[string]any{"dsn": srv.DSN(""), "tables": []any{db + ".c"}, "server.id": 90},
		Want:   4,
	})
}
