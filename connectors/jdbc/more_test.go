package jdbc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// TestSinkRetriesLostConnection kills the sink's connection in the middle
// of a transaction: the next Write replays the uncommitted rows in a new
// transaction, and after Flush every row is there.
func TestSinkRetriesLostConnection(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "lost")
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "auto.create": true, "table.name.format": name, "retry.backoff": "10ms"})
			batch := func(from int) []sdk.Record {
				var recs []sdk.Record
				for i := from; i < from+10; i++ {
					recs = append(recs, keyed(i, map[string]any{"v": fmt.Sprint("x", i)}))
				}
				return recs
			}
			if err := snk.Write(ctxT(t), batch(0)); err != nil {
				t.Fatal(err)
			}
			tt := snk.txs[name]
			var id int64
			q := map[Dialect]string{MySQL: "SELECT CONNECTION_ID()", Postgres: "SELECT pg_backend_pid()"}[tc.d]
			if err := tt.tx.conn.QueryRowContext(ctxT(t), q).Scan(&id); err != nil {
				t.Fatal(err)
			}
			kill := map[Dialect]string{MySQL: "KILL %d", Postgres: "SELECT pg_terminate_backend(%d)"}[tc.d]
			mustExec(t, db, fmt.Sprintf(kill, id))
			if err := snk.Write(ctxT(t), batch(10)); err != nil {
				t.Fatalf("write after the connection was killed: %v", err)
			}
			if err := snk.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, db, tc.d, name); n != 20 {
				t.Fatalf("%d rows after the retry, want 20", n)
			}
			if snk.retries == 0 {
				t.Fatalf("the killed connection went unnoticed")
			}
		})
	}
}

// TestSinkTombstoneDeletesByKey deletes rows named by record keys.
func TestSinkTombstoneDeletesByKey(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "tomb")
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "auto.create": true, "table.name.format": name, "delete.enabled": true})
			recs := []sdk.Record{keyed(1, map[string]any{"v": "a"}), keyed(2, map[string]any{"v": "b"}), keyed(3, map[string]any{"v": "c"}),
				{Topic: "t", Key: []byte(`{"id":2}`)}, {Topic: "t", Key: []byte(`{"id":3}`)}, keyed(3, map[string]any{"v": "again"})}
			if err := snk.Write(ctxT(t), recs); err != nil {
				t.Fatal(err)
			}
			if err := snk.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			var v string
			if err := db.QueryRow(fmt.Sprintf("SELECT v FROM %s WHERE id = 3", tc.d.Quote(name))).Scan(&v); err != nil || v != "again" {
				t.Fatalf("row 3: %q %v (want the write after the delete)", v, err)
			}
			if n := countRows(t, db, tc.d, name); n != 2 {
				t.Fatalf("%d rows, want 2", n)
			}
		})
	}
}

// TestSinkDeleteBeforeTableExists: a delete that comes before the table's
// first row (a CDC source that never snapshotted) has nothing to delete and
// is done; the insert after it creates the table. Without auto.create the
// missing table is still an error.
func TestSinkDeleteBeforeTableExists(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "early_delete")
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "auto.create": true, "table.name.format": name, "delete.enabled": true})
			recs := []sdk.Record{{Topic: "t", Key: []byte(`{"id":9}`)}, keyed(1, map[string]any{"v": "a"})}
			if err := snk.Write(ctxT(t), recs); err != nil {
				t.Fatal(err)
			}
			if err := snk.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, db, tc.d, name); n != 1 {
				t.Fatalf("%d rows, want 1", n)
			}
			off := newTestSink(t, map[string]any{"dsn": tc.dsn, "table.name.format": name + "_none", "delete.enabled": true})
			err := off.Write(ctxT(t), recs[:1])
			if err == nil {
				err = off.Flush(ctxT(t))
			}
			if err == nil || !strings.Contains(err.Error(), "auto.create is off") {
				t.Fatalf("without auto.create: %v", err)
			}
		})
	}
}

// TestSourceQueryAndOddNames reads a custom query, and a table whose name
// and columns hold quote characters, in bulk mode without a primary key.
func TestSourceQueryAndOddNames(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			name := tableName(t, db, tc.d, "odd`\"'")
			col := "we`ird\"col"
			mustExec(t, db, fmt.Sprintf("CREATE TABLE %s (%s INT, n INT)", tc.d.Quote(name), tc.d.Quote(col)))
			for i := 1; i <= 7; i++ {
				mustExec(t, db, fmt.Sprintf("INSERT INTO %s VALUES (%d, %d)", tc.d.Quote(name), i, i*10))
			}
			src := newTestSource(t, map[string]any{"dsn": tc.dsn, "tables": name, "batch.max.rows": 3, "poll.interval": "1h"})
			if err := src.Open(ctxT(t), nil); err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, src)
			src.Close(context.Background())
			if len(recs) != 7 || recs[0].Key != nil {
				t.Fatalf("bulk read of a table without a key: %d records, key %q", len(recs), recs[0].Key)
			}
			// Resume in the middle of the OFFSET-paged pass.
			src = newTestSource(t, map[string]any{"dsn": tc.dsn, "tables": name, "batch.max.rows": 3, "poll.interval": "1h"})
			if err := src.Open(ctxT(t), recs[2].Position); err != nil {
				t.Fatal(err)
			}
			if rest := readAll(t, src); len(rest) != 4 {
				t.Fatalf("resumed bulk pass read %d records, want 4", len(rest))
			}
			src.Close(context.Background())

			q := fmt.Sprintf("SELECT %s AS id, n * 2 AS doubled FROM %s", tc.d.Quote(col), tc.d.Quote(name))
			src = newTestSource(t, map[string]any{"dsn": tc.dsn, "query": q, "mode": "incrementing",
				"incrementing.column": "id", "key.columns": "id", "topic": "q.${table}"})
			if err := src.Open(ctxT(t), nil); err != nil {
				t.Fatal(err)
			}
			defer src.Close(context.Background())
			recs = readAll(t, src)
			if len(recs) != 7 || string(recs[6].Key) != `{"id":7}` || recs[6].Topic != "q.query" {
				t.Fatalf("query: %d records, last key %s topic %q", len(recs), recs[len(recs)-1].Key, recs[len(recs)-1].Topic)
			}
			if d, _ := toInt64(recs[6].Fields["doubled"]); d != 140 {
				t.Fatalf("doubled = %v", recs[6].Fields["doubled"])
			}
		})
	}
}
