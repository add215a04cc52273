package parquetenc

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/braidhq/braid/schema"
)

// TestAppendRowConversions checks that the inline path and the lenient
// converters agree: the same value in another Go type gives the same
// Parquet value, levels and column index.
func TestAppendRowConversions(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 13, 5, 0, 123456000, time.UTC)
	fields := []schema.Field{
		{Name: "b", Type: schema.Boolean},
		{Name: "d", Type: schema.Date, Optional: true},
		{Name: "f", Type: schema.Float64},
		{Name: "i", Type: schema.Int64},
		{Name: "n", Type: schema.Int32, Optional: true},
		{Name: "s", Type: schema.String},
		{Name: "t", Type: schema.Timestamp},
	}
	l, err := NewLayout(fields, nil)
	if err != nil {
		t.Fatal(err)
	}
	typed := map[string]any{"b": true, "d": at, "f": 2.5, "i": int64(7), "n": int32(3), "s": "héllo", "t": at}
	lenient := map[string]any{"b": true, "d": "2026-11-27", "f": json.Number("2.5"), "i": "7", "n": 3.0,
		"s": []byte("héllo"), "t": at.Format(time.RFC3339Nano)}
	want, size, err := l.AppendRow(nil, typed)
	if err != nil {
		t.Fatal(err)
	}
	if size != 7*8+int64(len("héllo")) {
		t.Errorf("size %d", size)
	}
	got, _, err := l.AppendRow(nil, lenient)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !pq.DeepEqual(want[i], got[i]) || want[i].Column() != i {
			t.Errorf("column %s: typed %#v lenient %#v", fields[i].Name, want[i], got[i])
		}
	}
	if d := want[1].DefinitionLevel(); d != 1 {
		t.Errorf("optional present value has definition level %d", d)
	}
	if v := want[6].Int64(); v != at.UnixMicro() {
		t.Errorf("timestamp %d", v)
	}

	nulls, _, err := l.AppendRow(nil, map[string]any{"b": false, "f": 1.0, "i": int64(1), "s": "", "t": at})
	if err != nil {
		t.Fatal(err)
	}
	if !nulls[1].IsNull() || !nulls[4].IsNull() || nulls[4].Column() != 4 {
		t.Errorf("missing optional fields are not nulls: %#v", nulls)
	}
	for _, bad := range []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{"b": true, "f": 1.0, "i": int64(1), "s": "x"}, `field "t": required but missing`},
		{map[string]any{"b": "yes", "f": 1.0, "i": int64(1), "s": "x", "t": at}, `field "b": string yes is not a boolean`},
		{map[string]any{"b": true, "f": 1.0, "i": 1.5, "s": "x", "t": at}, `field "i": float64 1.5 is not a whole number`},
		{map[string]any{"b": true, "f": 1.0, "i": int64(1), "n": int64(1 << 40), "s": "x", "t": at}, `field "n": 1099511627776 does not fit int32`},
	} {
		if _, _, err := l.AppendRow(nil, bad.m); err == nil || err.Error() != bad.want {
			t.Errorf("got %v, want %s", err, bad.want)
		}
	}
}

func benchMaps(n int) []map[string]any {
	base := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	pad := strings.Repeat("x", 200)
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": int64(i), "user": fmt.Sprintf("user-%d", i%1000),
			"amount": float64(i%10000) / 100, "at": base.Add(time.Duration(i) * time.Millisecond), "note": pad}
	}
	return out
}

// BenchmarkAppendRow builds rows through the layout; its floor, the same
// rows written by hand for this one schema, is
// parquetbench.BenchmarkBaselineRows.
func BenchmarkAppendRow(b *testing.B) {
	l, err := NewLayout([]schema.Field{
		{Name: "id", Type: schema.Int64}, {Name: "user", Type: schema.String}, {Name: "amount", Type: schema.Float64},
		{Name: "at", Type: schema.Timestamp}, {Name: "note", Type: schema.String, Optional: true},
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ms := benchMaps(4096)
	vals := make([]pq.Value, 0, len(ms)*5)
	b.ReportAllocs()
	for b.Loop() {
		vals = vals[:0]
		for _, m := range ms {
			if vals, _, err = l.AppendRow(vals, m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ms)), "ns/row")
}
