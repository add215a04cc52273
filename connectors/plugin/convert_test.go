package plugin

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
	"github.com/braidhq/braid/schema"
	"google.golang.org/protobuf/proto"
)

func TestRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 12, 3, 7, 0, 0, 123, time.UTC)
	sch := &schema.Schema{Name: "orders", Fields: []schema.Field{{Name: "id", Type: schema.Int64}, {Name: "amount", Type: schema.DecimalT, Precision: 10, Scale: 2}}, Key: []string{"id"}}
	in := []sdk.Record{
		{Topic: "orders", Partition: 2, Offset: 41, Key: []byte("k"), Value: []byte(`{"id":1}`),
			Headers: sdk.Headers{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}, Timestamp: ts, Position: sdk.Position("p1"),
			Op: sdk.OpUpdate, Before: map[string]any{"id": int64(1), "amount": schema.Decimal("1.50")},
			Fields: map[string]any{"id": int64(1), "amount": schema.Decimal("2.50"), "at": ts, "tags": []any{"x", int64(2)},
				"nested": map[string]any{"b": true, "f": 1.5, "raw": []byte{0, 1}, "nil": nil}, "u": uint64(1 << 63)},
			Schema: sch},
		{Topic: "orders", Key: []byte("gone"), Op: sdk.OpDelete, Schema: sch}, // a tombstone: no value
		{Value: []byte{}}, // an empty value is not a missing one
		// A source's unparsable input keeps its error, and never packs.
		{Value: []byte("<bad"), Position: sdk.Position("p3"), Err: errors.New("tcp: invalid frame from 127.0.0.1:9: not syslog")},
	}
	if plain(in[2:]) {
		t.Fatal("a record with an error would be packed, which drops it")
	}
	out, err := fromBatch(toBatch(in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the records:\n in %#v\nout %#v", in, out)
	}
	if out[0].Schema != out[1].Schema {
		t.Fatal("equal schemas in a row are not shared")
	}
	if out[1].Value != nil || out[2].Value == nil || out[2].Key != nil {
		t.Fatal("nil and empty bytes are not kept apart")
	}
}

func TestErrorsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		is   func(error) bool
	}{
		{"end", sdk.ErrEndOfInput, func(e error) bool { return errors.Is(e, sdk.ErrEndOfInput) }},
		{"backoff", sdk.ErrBackoff, func(e error) bool { return errors.Is(e, sdk.ErrBackoff) }},
		{"backoff wait", &sdk.BackoffError{Wait: time.Second, Err: errors.New("busy")}, func(e error) bool {
			var b *sdk.BackoffError
			return errors.As(e, &b) && b.Wait == time.Second && b.Err.Error() == "busy"
		}},
		{"fatal", sdk.Fatal(errors.New("bad password")), sdk.IsFatal},
		{"retryable", sdk.Retryable(errors.New("reset")), sdk.IsRetryable},
		{"batch", &sdk.BatchError{Records: []sdk.RecordError{{Index: 3, Err: errors.New("not json")}}}, func(e error) bool {
			var b *sdk.BatchError
			return errors.As(e, &b) && len(b.Records) == 1 && b.Records[0].Index == 3 && b.Records[0].Err.Error() == "not json"
		}},
		{"config", &sdk.ConfigError{Connector: "x", Errors: []sdk.FieldError{{Field: "path", Message: "missing"}}}, func(e error) bool {
			var c *sdk.ConfigError
			return errors.As(e, &c) && errors.Is(e, sdk.ErrInvalidConfig) && c.Errors[0].Field == "path"
		}},
		{"plain", errors.New("boom"), func(e error) bool { return e.Error() == "boom" && !sdk.IsFatal(e) && !sdk.IsRetryable(e) }},
	} {
		if got := fromError(toError(tc.err), "x"); !tc.is(got) {
			t.Errorf("%s: %v came back as %#v", tc.name, tc.err, got)
		}
	}
	if fromError(toError(nil), "x") != nil {
		t.Error("nil is not nil")
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	t.Parallel()
	spec := sdk.Spec{Name: "s", Kind: sdk.KindSource, Summary: "s", Fields: []sdk.Field{
		{Name: "d", Type: sdk.TypeDuration, Default: "5s", Max: "1h", Doc: "d"},
		{Name: "l", Type: sdk.TypeList, Doc: "l"},
		{Name: "m", Type: sdk.TypeMap, Doc: "m"},
		{Name: "f", Type: sdk.TypeFloat, Min: 0.5, Doc: "f"},
	}}
	cfg, err := spec.Validate(map[string]any{"l": []any{"a", "b"}, "m": map[string]any{"k": "v"}, "f": 2})
	if err != nil {
		t.Fatal(err)
	}
	back, err := fromSpec(toSpec(spec)).Validate(rawConfig(configValues(spec, cfg)))
	if err != nil {
		t.Fatal(err)
	}
	if back.Duration("d") != 5*time.Second || !reflect.DeepEqual(back.Strings("l"), []string{"a", "b"}) ||
		back.Map("m")["k"] != "v" || back.Float("f") != 2 {
		t.Fatalf("settings changed on the way: %v %v %v %v", back.Duration("d"), back.Strings("l"), back.Map("m"), back.Float("f"))
	}
}

// BenchmarkBatch is one 1000-record batch of 256 B values encoded, marshalled,
// unmarshalled and decoded: the plugin path's cost per batch on each side,
// one message per record and packed.
func BenchmarkBatch(b *testing.B) {
	recs := make([]sdk.Record, 1000)
	for i := range recs {
		recs[i] = sdk.Record{Key: []byte("12345"), Value: make([]byte, 256), Position: sdk.Position("123456")}
	}
	for _, packed := range []bool{false, true} {
		b.Run(map[bool]string{false: "records", true: "packed"}[packed], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(256 * 1000)
			for b.Loop() {
				msg, err := proto.Marshal(encode(recs, packed))
				if err != nil {
					b.Fatal(err)
				}
				var back pb.Batch
				if err := proto.Unmarshal(msg, &back); err != nil {
					b.Fatal(err)
				}
				if _, err := decode(&back); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPackedRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 12, 3, 7, 0, 0, 5, time.UTC)
	for _, in := range [][]sdk.Record{
		{ // from a source: positions, no topic
			{Key: []byte("k"), Value: []byte("v1"), Position: sdk.Position("1"), Timestamp: ts},
			{Value: []byte{}, Position: sdk.Position("2")},
			{Key: []byte("gone"), Position: sdk.Position("3")},
		},
		{ // to a sink: topics, partitions, offsets
			{Topic: "a", Partition: 1, Offset: 7, Value: []byte("x")},
			{Topic: "b", Partition: 0, Offset: 0, Key: []byte{}, Value: []byte("y")},
			{Topic: "a", Partition: 1, Offset: 8},
		},
	} {
		b := encode(in, true)
		if b.Packed == nil {
			t.Fatal("plain records were not packed")
		}
		out, err := decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("packed round trip changed the records:\n in %#v\nout %#v", in, out)
		}
	}
	if b := encode([]sdk.Record{{Value: []byte("v"), Op: sdk.OpCreate}}, true); b.Packed != nil {
		t.Fatal("a change event was packed")
	}
	bad := encode([]sdk.Record{{Value: []byte("v")}}, true)
	bad.Packed.ValueLens[0] = 5
	if _, err := decode(bad); err == nil {
		t.Fatal("a packed batch announcing more bytes than it has was accepted")
	}
}

// A host before protocol 1.1 would store a source's unparsable input as
// data: the plugin fails the batch instead.
func TestOldHostRefusesRecordErrors(t *testing.T) {
	t.Parallel()
	recs := []sdk.Record{{Value: []byte("ok")}, {Value: []byte("<bad"), Err: errors.New("not syslog")}}
	s := &connectorServer{}
	if err := s.hostReads(recs); !sdk.IsFatal(err) {
		t.Fatalf("host 1.0: %v, want a fatal error", err)
	}
	s.hostMinor.Store(1)
	if err := s.hostReads(recs); err != nil {
		t.Fatalf("host 1.1: %v", err)
	}
}
