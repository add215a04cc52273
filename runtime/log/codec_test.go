package log

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestMurmur2KafkaVectors(t *testing.T) {
	// From Kafka's UtilsTest.testMurmur2.
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range cases {
		if got := Murmur2([]byte(in)); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	if got := KeyPartition([]byte("foobar"), 50); got != 16 {
		t.Errorf("KeyPartition(foobar, 50) = %d, want 16", got)
	}
}

func sampleRecords(n int) []Record {
	base := time.Unix(1700000000, 123456789)
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Key:       []byte(fmt.Sprintf("key-%d", i)),
			Value:     bytes.Repeat([]byte{byte('a' + i%26)}, 50+i%7),
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		}
		if i%3 == 0 {
			recs[i].Headers = []Header{{"h", "v"}, {"h", fmt.Sprint(i)}}
		}
		if i%5 == 0 {
			recs[i].Key = nil
		}
		if i%11 == 0 {
			recs[i].Value = []byte{}
		}
	}
	return recs
}

func TestBatchRoundTrip(t *testing.T) {
	for _, compress := range []bool{false, true} {
		recs := sampleRecords(100)
		data := encodeBatch(recs, nil, compress)
		if compress && data[0] != formatS2 {
			t.Errorf("compressible batch stored as format %d", data[0])
		}
		for _, skip := range []int{0, 1, 57, 99, 100} {
			got, err := decodeBatch(nil, data, 2, 7, skip)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(recs)-skip {
				t.Fatalf("skip %d: got %d records", skip, len(got))
			}
			for i, g := range got {
				w := recs[i+skip]
				if !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) ||
					!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) ||
					!g.Timestamp.Equal(w.Timestamp) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
					t.Fatalf("record %d: got %+v want %+v", i+skip, g, w)
				}
				if g.Partition != 2 || g.Offset != int64(7+i+skip) {
					t.Fatalf("record %d: partition/offset %d/%d", i+skip, g.Partition, g.Offset)
				}
			}
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	data := encodeBatch(sampleRecords(10), nil, false)
	for i := 0; i < len(data); i++ {
		if _, err := decodeBatch(nil, data[:i], 0, 1, 0); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(sampleRecords(3), nil, false))
	f.Add(encodeBatch(sampleRecords(30), nil, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeBatch(nil, data, 0, 1, 0)
	})
}

func TestSingleRoundTrip(t *testing.T) {
	ts := time.Unix(1700000000, 42)
	for _, key := range [][]byte{nil, []byte("user-1"), {0, 1, 0xff}} {
		r := Record{Key: key, Value: []byte("v"), Timestamp: ts, Headers: []Header{{"a", "1"}, {"b", "2"}}}
		m := &nats.Msg{Header: nats.Header{}}
		if err := encodeSingle(m, &r); err != nil {
			t.Fatal(err)
		}
		got := decodeSingle(m.Header, m.Data, 1, 9, time.Now())
		if !bytes.Equal(got.Key, key) || string(got.Value) != "v" || !got.Timestamp.Equal(ts) ||
			fmt.Sprint(got.Headers) != fmt.Sprint(r.Headers) || got.Offset != 9 {
			t.Fatalf("got %+v", got)
		}
	}
	m := &nats.Msg{}
	if err := encodeSingle(m, &Record{Headers: []Header{{"bad key", "x"}}}); err == nil {
		t.Fatal("header key with a space accepted")
	}
}

func TestEscapeKey(t *testing.T) {
	for _, k := range []string{"a", "connector.my-src", "a b/c=d", "ü.*>", "..", "x=41"} {
		e := EscapeKey(k)
		for _, c := range e {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/' || c == '=') {
				t.Fatalf("EscapeKey(%q) = %q has %q", k, e, c)
			}
		}
		u, err := UnescapeKey(e)
		if err != nil || u != k {
			t.Fatalf("UnescapeKey(%q) = %q, %v; want %q", e, u, err, k)
		}
	}
}

func TestTopicName(t *testing.T) {
	for _, ok := range []string{"orders", "a_b-C9"} {
		if err := ValidateTopicName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "x*", "ü"} {
		if err := ValidateTopicName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMeta(t *testing.T) {
	in := []Header{{"pos", "binlog.000001:42"}, {"a&b", "c=d"}, {"pos", ""}}
	out, err := decodeMeta(encodeMeta(in))
	if err != nil || fmt.Sprint(out) != fmt.Sprint(in) {
		t.Fatalf("got %v, %v", out, err)
	}
}

func BenchmarkEncodeBatch(b *testing.B) {
	recs := benchRecords(1000, 128)
	b.SetBytes(128 * 1000)
	b.ReportAllocs()
	for b.Loop() {
		_ = encodeBatch(recs, nil, true)
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	recs := benchRecords(1000, 128)
	data := encodeBatch(recs, nil, true)
	b.SetBytes(128 * 1000)
	b.ReportAllocs()
	dst := make([]Record, 0, 1000)
	for b.Loop() {
		var err error
		if dst, err = decodeBatch(dst[:0], data, 0, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRecords(n, size int) []Record {
	recs := make([]Record, n)
	now := time.Now()
	for i := range recs {
		v := make([]byte, size)
		copy(v, fmt.Sprintf(`{"id":%d,"name":"user-%d","amount":%d}`, i, i, i*7))
		recs[i] = Record{Key: []byte(fmt.Sprint("k", i)), Value: v, Timestamp: now}
	}
	return recs
}
