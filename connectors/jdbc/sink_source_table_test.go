package jdbc

import (
	"errors"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// TestSinkSourceTablePlaceholder mirrors two tables a CDC source wrote to
// one topic into two tables, and rejects a record without the header.
func TestSinkSourceTablePlaceholder(t *testing.T) {
	for _, tc := range dialects {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, tc.d)
			prefix := tableName(t, db, tc.d, "mirror") + "_"
			a, b := prefix+"orders", prefix+"items"
			t.Cleanup(func() { dropTable(db, tc.d, a); dropTable(db, tc.d, b) })
			snk := newTestSink(t, map[string]any{"dsn": tc.dsn, "auto.create": true, "delete.enabled": true,
				"table.name.format": prefix + "${source.table}"})
			from := func(id int, table string, v string) sdk.Record {
				r := keyed(id, map[string]any{"v": v})
				r.Headers = sdk.Headers{{Key: "braid.source.db", Value: "shop"}, {Key: "braid.source.table", Value: table}}
				return r
			}
			del := from(2, "orders", "")
			del.Fields, del.Op = nil, sdk.OpDelete
			recs := []sdk.Record{from(1, "orders", "o1"), from(2, "public.orders", "o2"), from(1, "items", "i1"),
				{Topic: "t", Partition: 1, Offset: 7, Key: []byte(`{"id":9}`), Fields: map[string]any{"v": "x"}}, del}
			err := snk.Write(ctxT(t), recs)
			var be *sdk.BatchError
			if !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 3 {
				t.Fatalf("Write = %v, want one rejected record (index 3)", err)
			}
			if msg := be.Records[0].Err.Error(); !strings.Contains(msg, "braid.source.table") || !strings.Contains(msg, "partition 1 offset 7") {
				t.Fatalf("rejection %q does not name the header and the record", msg)
			}
			if err := snk.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, db, tc.d, a); n != 1 {
				t.Fatalf("%s has %d rows, want 1 (2 was deleted)", a, n)
			}
			if n := countRows(t, db, tc.d, b); n != 1 {
				t.Fatalf("%s has %d rows, want 1", b, n)
			}
		})
	}
}

func TestSourceName(t *testing.T) {
	h := func(db, table string) *sdk.Record {
		return &sdk.Record{Headers: sdk.Headers{{Key: "braid.source.db", Value: db}, {Key: "braid.source.table", Value: table}}}
	}
	for _, tc := range []struct {
		rec               *sdk.Record
		db, schema, table string
	}{
		{h("shop", "orders"), "shop", "shop", "orders"},            // mysql-cdc
		{h("shopdb", "sales.orders"), "shopdb", "sales", "orders"}, // postgres-cdc
	} {
		for part, want := range map[string]string{"db": tc.db, "schema": tc.schema, "table": tc.table} {
			if got, err := sourceName(tc.rec, part); err != nil || got != want {
				t.Errorf("%v source.%s = %q, %v; want %q", tc.rec.Headers, part, got, err, want)
			}
		}
	}
}
