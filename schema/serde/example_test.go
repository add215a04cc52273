package serde_test

import (
	"context"
	"fmt"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/convert"
	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/serde"
)

// Register the registry converters next to the built-in ones, then encode a
// record on its way into the log and decode it on its way into a sink.
func Example() {
	reg := registry.New(registry.NewMemStore(), nil) // production: a JetStream KV store
	for name, f := range serde.Factories(reg) {
		convert.Register(name, f)
	}
	c, err := convert.New("avro", map[string]any{"subject.name.strategy": "topic"}, convert.Env{})
	if err != nil {
		panic(err)
	}
	s := &schema.Schema{Name: "Order", Fields: []schema.Field{
		{Name: "id", Type: schema.Int64}, {Name: "total", Type: schema.Float64},
	}}
	ctx := context.Background()
	data, _ := c.Encode(ctx, "orders", map[string]any{"id": int64(1), "total": 9.5}, s)
	v, got, _ := c.Decode(ctx, "orders", data)
	fmt.Printf("% x\n", data[:5])
	fmt.Println(v["id"], v["total"], got.Ref.ID, got.Field("total").Type)
	// Output:
	// 00 00 00 00 01
	// 1 9.5 1 float64
}
