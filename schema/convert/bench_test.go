package convert

import (
	"encoding/json"
	"testing"
)

var benchDoc = []byte(`{"id":12345,"customer":{"id":"c-981","name":"Ann Lee","tier":"gold"},"amount":1520.5,` +
	`"currency":"EUR","items":[{"sku":"a-1","qty":2,"price":19.9},{"sku":"b-7","qty":1,"price":1480.7}],"paid":true,"note":null}`)

// BenchmarkJSONDecode compares the converter (exact numbers) with a plain
// json.Unmarshal into map[string]any, its baseline.
func BenchmarkJSONDecode(b *testing.B) {
	c := &jsonConverter{}
	b.Run("baseline-unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchDoc)))
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(benchDoc, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("converter", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchDoc)))
		for b.Loop() {
			if _, _, err := c.Decode(ctx, "t", benchDoc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkJSONEncode compares the converter's encoder with json.Marshal.
func BenchmarkJSONEncode(b *testing.B) {
	c := &jsonConverter{}
	m, _, err := c.Decode(ctx, "t", benchDoc)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("converter", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Encode(ctx, "t", m, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
