package jdbc

import (
	"reflect"
	"testing"
	"time"

	"github.com/braidhq/braid/schema"
)

// The per-batch position format renders exactly what appendPosition renders
// for the same state, whatever the other tables' states are.
func TestPosFormatMatchesPosition(t *testing.T) {
	states := []tableState{{}, {Done: true}, {Pass: 3, Done: true}, {Key: []any{int64(7)}, Done: true}}
	keys := [][]any{{int64(42)}, {time.Date(2024, 5, 1, 10, 0, 0, 5, time.UTC), schema.Decimal("12.50")}, {"a\"b"}}
	for _, other := range states {
		for _, self := range states {
			for _, key := range keys {
				s := &source{tables: []*table{{name: "a", st: other}, {name: "t\"x", st: self}, {name: "z", st: other}}}
				tb := s.tables[1]
				pf := s.newPosFormat(tb)
				got := append([]byte(nil), pf.prefix...)
				for i, v := range key {
					if i > 0 {
						got = append(got, ',')
					}
					got = appendTrack(got, v)
				}
				got = append(got, pf.suffix...)
				tb.st.Key = key
				if want := s.appendPosition(nil); string(got) != string(want) {
					t.Errorf("state %+v key %v:\n got %s\nwant %s", self, key, got, want)
				}
			}
		}
	}
}

func TestFromText(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 0, 0, 123456000, time.UTC)
	for _, c := range []struct {
		typ  schema.Type
		in   any
		want any
	}{
		{schema.Bytes, "AAH/", []byte{0, 1, 0xff}},
		{schema.Timestamp, "2024-05-01T10:00:00.123456Z", ts},
		{schema.DecimalT, 12.5, schema.Decimal("12.5")},
		{schema.DecimalT, int64(3), schema.Decimal("3")},
		{schema.DecimalT, schema.Decimal("1.10"), schema.Decimal("1.10")},
		{schema.Float64, int64(2), float64(2)},
		{schema.String, "x", "x"},
	} {
		got, err := fromText(c.in, &schema.Field{Name: "f", Type: c.typ})
		if err != nil {
			t.Fatalf("%s %v: %v", c.typ, c.in, err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(c.want) {
			t.Errorf("%s %v: got a %T, want a %T", c.typ, c.in, got, c.want)
		}
		if g, ok := got.(time.Time); ok && !g.Equal(c.want.(time.Time)) || !ok && string(toBytes(got)) != string(toBytes(c.want)) {
			t.Errorf("%s %v: got %#v, want %#v", c.typ, c.in, got, c.want)
		}
	}
	if _, err := fromText("not base64!", &schema.Field{Name: "data", Type: schema.Bytes}); err == nil {
		t.Error("bad base64 accepted")
	}
}

func toBytes(v any) []byte {
	if b, ok := v.([]byte); ok {
		return b
	}
	b, _ := appendJSON(nil, v)
	return b
}
