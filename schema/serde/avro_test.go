package serde

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/wire"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var orderSchema = &schema.Schema{
	Name: "Order",
	Key:  []string{"id"},
	Fields: []schema.Field{
		{Name: "id", Type: schema.Int64},
		{Name: "qty", Type: schema.Int32},
		{Name: "price", Type: schema.DecimalT, Precision: 10, Scale: 2},
		{Name: "weight", Type: schema.Float32},
		{Name: "note", Type: schema.String, Optional: true},
		{Name: "placed", Type: schema.Timestamp},
		{Name: "day", Type: schema.Date},
		{Name: "at", Type: schema.Time},
		{Name: "meta", Type: schema.JSON},
		{Name: "tags", Type: schema.Array, Items: &schema.Field{Type: schema.String}},
		{Name: "attrs", Type: schema.Map, Items: &schema.Field{Type: schema.Int64}},
		{Name: "ship", Type: schema.Struct, Fields: []schema.Field{{Name: "city", Type: schema.String}}},
	},
}

func orderValue() map[string]any {
	return map[string]any{
		"id": int64(7), "qty": int64(3), "price": schema.Decimal("12.50"), "weight": 1.5,
		"note": nil, "placed": time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC),
		"day": time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "at": "13:14:15.5",
		"meta": map[string]any{"a": []any{1.0, "x"}}, "tags": []any{"a", "b"},
		"attrs": map[string]any{"k": int64(1)}, "ship": map[string]any{"city": "Oslo"},
	}
}

func TestAvroRoundTripAndCaching(t *testing.T) {
	t.Parallel()
	reg := registry.New(registry.NewMemStore(), nil)
	c, err := New(reg, "avro", Options{Strategy: TopicStrategy, AutoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	b, err := c.Encode(ctx, "orders", orderValue(), orderSchema)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := wire.Parse(b)
	if err != nil || id != 1 {
		t.Fatalf("framing: id %d, %v", id, err)
	}
	if v, err := reg.Version(ctx, "orders-value", registry.Latest, false); err != nil || v.ID != 1 {
		t.Fatalf("auto-registered: %+v, %v", v, err)
	}
	got, st, err := c.Decode(ctx, "orders", b)
	if err != nil {
		t.Fatal(err)
	}
	want := orderValue()
	want["weight"] = float64(1.5)
	want["placed"] = want["placed"].(time.Time)
	for k, w := range want {
		g := got[k]
		if tw, ok := w.(time.Time); ok {
			if tg, ok := g.(time.Time); !ok || !tg.Equal(tw) {
				t.Errorf("%s = %v, want %v", k, g, w)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
	if st.Ref == nil || st.Ref.ID != 1 || st.Field("price").Type != schema.DecimalT || !st.Field("note").Optional ||
		st.Field("ship").Type != schema.Struct || st.Field("meta").Type != schema.JSON {
		t.Fatalf("structured schema = %+v", st)
	}
	// A copy of the schema (new pointer) reuses the cached id.
	cp := *orderSchema
	if b2, err := c.Encode(ctx, "orders", orderValue(), &cp); err != nil || !reflect.DeepEqual(b2[:5], b[:5]) {
		t.Fatalf("re-encode: % x, %v", b2[:5], err)
	}
}

func TestSubjectStrategies(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	for _, tc := range []struct {
		opts    Options
		subject string
	}{
		{Options{Strategy: TopicStrategy, AutoRegister: true}, "t-value"},
		{Options{Strategy: TopicStrategy, Key: true, AutoRegister: true}, "t-key"},
		{Options{Strategy: RecordStrategy, AutoRegister: true}, "braid.Order"},
		{Options{Strategy: TopicRecordStrategy, AutoRegister: true}, "t-braid.Order"},
		{Options{Subject: "fixed", AutoRegister: true}, "fixed"},
	} {
		reg := registry.New(registry.NewMemStore(), nil)
		c, _ := New(reg, "avro", tc.opts)
		if _, err := c.Encode(ctx, "t", orderValue(), orderSchema); err != nil {
			t.Fatal(err)
		}
		if subs, _ := reg.Subjects(ctx, "", false); len(subs) != 1 || subs[0] != tc.subject {
			t.Errorf("%+v: subjects %v, want %s", tc.opts, subs, tc.subject)
		}
	}
}

func TestNoAutoRegister(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	reg := registry.New(registry.NewMemStore(), nil)
	c, _ := New(reg, "avro", Options{Strategy: TopicStrategy})
	if _, err := c.Encode(ctx, "t", orderValue(), orderSchema); err == nil {
		t.Fatal("encoded with an unregistered schema")
	}
	auto, _ := New(reg, "avro", Options{Strategy: TopicStrategy, AutoRegister: true})
	if _, err := auto.Encode(ctx, "t", orderValue(), orderSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Encode(ctx, "t", orderValue(), orderSchema); err != nil {
		t.Fatalf("lookup of registered schema: %v", err)
	}
	latest, _ := New(reg, "avro", Options{Strategy: TopicStrategy, UseLatest: true})
	if _, err := latest.Encode(ctx, "t", orderValue(), nil); err != nil {
		t.Fatalf("use latest: %v", err)
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	o, err := ParseOptions(map[string]any{"subject.name.strategy": "record", "auto.register": "false"})
	if err != nil || o.Strategy != RecordStrategy || o.AutoRegister {
		t.Fatalf("%+v %v", o, err)
	}
	if _, err := ParseOptions(map[string]any{"strategy": "sideways"}); err == nil {
		t.Fatal("bad strategy accepted")
	}
	if _, err := ParseOptions(map[string]any{"bogus": 1}); err == nil {
		t.Fatal("unknown option accepted")
	}
}
