package cdcenv

import (
	"reflect"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

func TestWrap(t *testing.T) {
	ts := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	hdr := func() sdk.Headers {
		return sdk.Headers{{Key: hdrSchema, Value: "{}"}, {Key: hdrDB, Value: "shop"}, {Key: hdrTable, Value: "public.orders"},
			{Key: hdrPos, Value: "0/10"}, {Key: hdrTS, Value: ts.Format(time.RFC3339Nano)}, {Key: hdrTxID, Value: "7"}}
	}
	row := map[string]any{"id": int64(1), "n": "a"}
	row2 := map[string]any{"id": int64(1), "n": "b"}
	recs := []sdk.Record{
		{Key: []byte(`{"id":1}`), Op: sdk.OpSnapshot, Fields: row, Headers: hdr()},
		{Key: []byte(`{"id":1}`), Op: sdk.OpCreate, Fields: row, Headers: hdr()},
		{Key: []byte(`{"id":1}`), Op: sdk.OpUpdate, Fields: row2, Before: row, Headers: hdr()},
		{Key: []byte(`{"id":1}`), Op: sdk.OpDelete, Before: row2, Headers: hdr()},
	}
	var got []string
	src := Source{Connector: "postgresql", Name: "cdc", Position: func(pos, txid string, b map[string]any) {
		got = append(got, pos+"/"+txid)
		b["lsn"] = int64(16)
	}}
	out := Wrap(recs, src)
	if len(out) != 5 {
		t.Fatalf("%d records, want 4 events and a tombstone", len(out))
	}
	wantOps := []string{"r", "c", "u", "d"}
	wantBefore := []any{nil, nil, row, row2}
	wantAfter := []any{row, row, row2, nil}
	for i, op := range wantOps {
		f := out[i].Fields
		if f["op"] != op || !reflect.DeepEqual(f["before"], wantBefore[i]) || !reflect.DeepEqual(f["after"], wantAfter[i]) {
			t.Errorf("event %d = %v", i, f)
		}
		if _, ok := out[i].Headers.Get(hdrSchema); ok || out[i].Schema != nil || out[i].Before != nil {
			t.Errorf("event %d keeps the row's schema or Before", i)
		}
		s := f["source"].(map[string]any)
		want := map[string]any{"version": "braid", "connector": "postgresql", "name": "cdc", "snapshot": "false",
			"ts_ms": ts.UnixMilli(), "db": "shop", "schema": "public", "table": "orders", "lsn": int64(16)}
		if i == 0 {
			want["snapshot"] = "true"
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("event %d source = %v, want %v", i, s, want)
		}
		if _, ok := f["ts_ms"].(int64); !ok {
			t.Errorf("event %d ts_ms = %v", i, f["ts_ms"])
		}
	}
	if tomb := out[4]; !tomb.IsTombstone() || tomb.Fields != nil || string(tomb.Key) != `{"id":1}` || tomb.Op != "" {
		t.Errorf("tombstone = %+v", tomb)
	}
	if len(got) != 4 || got[0] != "0/10/7" {
		t.Errorf("position calls = %v", got)
	}
	// Without deletes the batch is rewritten in place.
	in := []sdk.Record{{Op: sdk.OpCreate, Fields: row, Headers: hdr()}}
	if out := Wrap(in, Source{Connector: "mysql"}); &out[0] != &in[0] || out[0].Fields["source"].(map[string]any)["table"] != "public.orders" {
		t.Errorf("in-place wrap = %v", out[0].Fields)
	}
}
