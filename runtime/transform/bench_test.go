package transform

import (
	"context"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

var benchValue = []byte(`{"id":12345,"customer":"c-981","amount":"1520.50","currency":"EUR","region":"eu","card":"4111111111111111"}`)

// BenchmarkChain runs a filter, an insert_field and a cast beside the
// baseline of only decoding the value, which every field transform needs.
func BenchmarkChain(b *testing.B) {
	ctx := context.Background()
	chain, err := Build([]any{
		map[string]any{"filter": `value.region == "eu"`},
		map[string]any{"insert_field": map[string]any{"field": "source", "from": "topic"}},
		map[string]any{"cast": map[string]any{"fields": map[string]any{"amount": "decimal", "id": "string"}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := sdk.Record{Topic: "orders", Value: benchValue}
			if _, err := rec.Structured(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chain3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := sdk.Record{Topic: "orders", Value: benchValue}
			if keep, err := chain.Apply(ctx, &rec); !keep || err != nil {
				b.Fatal(keep, err)
			}
		}
	})
}
