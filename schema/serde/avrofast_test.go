package serde

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

const flatAvro = `{"type":"record","name":"F","fields":[
 {"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},
 {"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"s","type":"string"},
 {"name":"y","type":"bytes"},{"name":"ns","type":["null","string"]},{"name":"sn","type":["long","null"]},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"ms","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}}]}`

// TestFastMatchesHamba checks the fast path byte for byte against hamba/avro.
func TestFastMatchesHamba(t *testing.T) {
	t.Parallel()
	s := avro.MustParse(flatAvro)
	fr := compileFast(s)
	if fr == nil {
		t.Fatal("flat record not compiled")
	}
	ts := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, v := range []map[string]any{
		{"b": true, "i": int64(-5), "l": int64(math.MaxInt64), "f": 1.5, "d": -2.25, "s": "héllo",
			"y": []byte{0, 1}, "ns": "x", "sn": int64(9), "day": ts.Truncate(24 * time.Hour), "ms": ts.Truncate(time.Millisecond), "us": ts},
		{"b": false, "i": int64(math.MinInt32), "l": int64(0), "f": 0.0, "d": math.Inf(1), "s": "",
			"y": []byte{}, "ns": nil, "sn": nil, "day": time.Unix(0, 0).UTC(), "ms": time.UnixMilli(-1).UTC(), "us": time.UnixMicro(-1).UTC()},
	} {
		got, err := fr.encode(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		native := map[string]any{}
		for k, x := range v {
			native[k] = x
		}
		native["i"], native["f"] = int(v["i"].(int64)), float32(v["f"].(float64))
		want, err := avro.Marshal(s, native)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fast % x\nhamba % x", got, want)
		}
		back, err := fr.decode(got)
		if err != nil {
			t.Fatal(err)
		}
		for k, x := range v {
			if tx, ok := x.(time.Time); ok {
				if !back[k].(time.Time).Equal(tx) {
					t.Errorf("%s = %v, want %v", k, back[k], x)
				}
			} else if !reflect.DeepEqual(back[k], x) {
				t.Errorf("%s = %#v, want %#v", k, back[k], x)
			}
		}
	}
	if compileFast(avro.MustParse(`{"type":"record","name":"N","fields":[{"name":"r","type":{"type":"array","items":"int"}}]}`)) != nil {
		t.Fatal("non-flat record compiled")
	}
}

// FuzzFastDecode checks the fast decoder never panics and accepts only what
// hamba/avro accepts. It is stricter: hamba lets some payloads that end
// inside a string pass.
func FuzzFastDecode(f *testing.F) {
	s := avro.MustParse(flatAvro)
	fr := compileFast(s)
	f.Add([]byte{1, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 2, 0, 0, 0, 0})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := fr.decode(data)
		var h any
		herr := avro.Unmarshal(s, data, &h)
		if err == nil && herr != nil {
			t.Fatalf("fast err %v, hamba err %v", err, herr)
		}
		if err == nil && len(m) != 12 {
			t.Fatalf("decoded %d fields", len(m))
		}
	})
}
