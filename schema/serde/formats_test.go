package serde

import (
	"reflect"
	"testing"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/wire"
)

var eventSchema = &schema.Schema{
	Name: "Event",
	Fields: []schema.Field{
		{Name: "id", Type: schema.Int64},
		{Name: "kind", Type: schema.String},
		{Name: "score", Type: schema.Float64},
		{Name: "ok", Type: schema.Boolean},
		{Name: "at", Type: schema.Timestamp},
		{Name: "note", Type: schema.String, Optional: true},
		{Name: "tags", Type: schema.Array, Items: &schema.Field{Type: schema.String}},
		{Name: "counts", Type: schema.Map, Items: &schema.Field{Type: schema.Int64}},
		{Name: "src", Type: schema.Struct, Fields: []schema.Field{{Name: "host", Type: schema.String}}},
	},
}

func eventValue() map[string]any {
	return map[string]any{
		"id": int64(42), "kind": "click", "score": 0.5, "ok": true,
		"at": time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC), "note": nil,
		"tags": []any{"a", "b"}, "counts": map[string]any{"x": int64(2)},
		"src": map[string]any{"host": "h1"},
	}
}

func TestProtobufAndJSONSchemaRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"protobuf", "jsonschema", "avro"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			reg := registry.New(registry.NewMemStore(), nil)
			c, err := New(reg, name, Options{Strategy: TopicStrategy, AutoRegister: true})
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Encode(ctx, "events", eventValue(), eventSchema)
			if err != nil {
				t.Fatal(err)
			}
			got, st, err := c.Decode(ctx, "events", b)
			if err != nil {
				t.Fatal(err)
			}
			want := eventValue()
			if !got["at"].(time.Time).Equal(want["at"].(time.Time)) {
				t.Errorf("at = %v", got["at"])
			}
			delete(got, "at")
			delete(want, "at")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%#v\nwant\n%#v", got, want)
			}
			for _, f := range []string{"id", "tags", "counts", "src", "at"} {
				if st.Field(f) == nil || st.Field(f).Type != eventSchema.Field(f).Type {
					t.Errorf("field %s maps to %+v", f, st.Field(f))
				}
			}
			if !st.Field("note").Optional {
				t.Error("note lost optional")
			}
			if v, err := reg.Version(ctx, "events-value", registry.Latest, false); err != nil || v.ID != st.Ref.ID {
				t.Fatalf("registered %+v, %v", v, err)
			}
		})
	}
}

// TestProtobufNestedMessageIndex decodes data framed the way Confluent's
// serializer frames a nested message: indexes [0, 1].
func TestProtobufNestedMessageIndex(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	reg := registry.New(registry.NewMemStore(), nil)
	src := `syntax = "proto3"; package p; message Outer { message A { int32 x = 1; } message B { string y = 1; } }`
	id, err := reg.Register(ctx, "n", registry.Schema{Schema: src, Type: registry.Protobuf}, registry.RegisterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := wire.AppendHeader(nil, id)
	data = wire.AppendMessageIndexes(data, []int{0, 1})
	data = append(data, 0x0a, 0x02, 'h', 'i') // field 1, length 2, "hi"
	c, _ := New(reg, "protobuf", Options{})
	got, _, err := c.Decode(ctx, "n", data)
	if err != nil || got["y"] != "hi" {
		t.Fatalf("decoded %v, %v", got, err)
	}
	bad := append(wire.AppendMessageIndexes(wire.AppendHeader(nil, id), []int{5}), 0)
	if _, _, err := c.Decode(ctx, "n", bad); err == nil {
		t.Fatal("decoded an out-of-range message index")
	}
}

func TestJSONSchemaRejectsInvalid(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	reg := registry.New(registry.NewMemStore(), nil)
	c, _ := New(reg, "jsonschema", Options{Strategy: TopicStrategy, AutoRegister: true})
	v := eventValue()
	v["id"] = "not a number"
	if _, err := c.Encode(ctx, "e", v, eventSchema); err == nil {
		t.Fatal("encoded a value that violates its schema")
	}
	b, err := c.Encode(ctx, "e", eventValue(), eventSchema)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b[:5], `{"id":"x"}`...)
	if _, _, err := c.Decode(ctx, "e", b); err == nil {
		t.Fatal("decoded a payload that violates its schema")
	}
}
