package serde

import (
	"context"
	"testing"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/registry"
	"github.com/hamba/avro/v2"
)

// benchSchema is a typical 10-field record.
var benchSchema = &schema.Schema{
	Name: "Visit",
	Fields: []schema.Field{
		{Name: "id", Type: schema.Int64}, {Name: "user", Type: schema.String},
		{Name: "email", Type: schema.String}, {Name: "age", Type: schema.Int32},
		{Name: "score", Type: schema.Float64}, {Name: "active", Type: schema.Boolean},
		{Name: "country", Type: schema.String}, {Name: "visits", Type: schema.Int64},
		{Name: "ratio", Type: schema.Float32}, {Name: "tag", Type: schema.String},
	},
}

func benchValue() map[string]any {
	return map[string]any{
		"id": int64(123456789), "user": "ada", "email": "ada@example.com", "age": int64(36),
		"score": 98.25, "active": true, "country": "NO", "visits": int64(42),
		"ratio": 0.75, "tag": "gold",
	}
}

// rawAvroLoop encodes and decodes the same record n times with hamba/avro
// directly, values already in hamba's native Go types: the converter's floor.
func rawAvroLoop(tb testing.TB, n int) {
	s, err := avroFormat{}.fromStructured(benchSchema)
	if err != nil {
		tb.Fatal(err)
	}
	sch := avro.MustParse(s.Schema)
	v := benchValue()
	v["age"], v["ratio"] = 36, float32(0.75)
	for range n {
		data, err := avro.Marshal(sch, v)
		if err != nil {
			tb.Fatal(err)
		}
		var out any
		if err := avro.Unmarshal(sch, data, &out); err != nil {
			tb.Fatal(err)
		}
	}
}

func BenchmarkAvroRaw(b *testing.B) {
	b.ReportAllocs()
	rawAvroLoop(b, b.N)
}

// BenchmarkAvroConverter measures encode+decode of one record through the
// converter with its schema cached, then times raw hamba/avro for the same
// number of records in the same process and reports the ratio.
func BenchmarkAvroConverter(b *testing.B) {
	ctx := context.Background()
	reg := registry.New(registry.NewMemStore(), nil)
	c, err := New(reg, "avro", Options{Strategy: TopicStrategy, AutoRegister: true})
	if err != nil {
		b.Fatal(err)
	}
	v := benchValue()
	if _, err := c.Encode(ctx, "visits", v, benchSchema); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		data, err := c.Encode(ctx, "visits", v, benchSchema)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Decode(ctx, "visits", data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	start := time.Now()
	rawAvroLoop(b, b.N)
	raw := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(1e9/ns, "records/s")
	b.ReportMetric(raw, "raw-ns/op")
	b.ReportMetric(ns/raw, "x-raw")
}
