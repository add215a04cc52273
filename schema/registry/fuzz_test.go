package registry

import "testing"

// fuzzParser checks that a parser never panics, and that every schema it
// accepts normalises stably and is compatible with itself.
func fuzzParser(f *testing.F, format Format) {
	for _, tc := range append(compatCases, recursiveCases...) {
		if tc.format == format {
			f.Add(tc.new)
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := parse(Schema{Schema: text, Type: format}, nil)
		if err != nil {
			return
		}
		b := newBudget()
		if reasons := compatible(p, p, b); len(reasons) > 0 && !b.exceeded() {
			t.Fatalf("schema incompatible with itself: %v\n%s", reasons, text)
		}
		if format == Protobuf {
			return // the canonical form of protobuf is a descriptor, not source
		}
		again, err := parse(Schema{Schema: p.Canonical(), Type: format}, nil)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, p.Canonical())
		}
		if again.Canonical() != p.Canonical() {
			t.Fatalf("canonical form not stable:\n%s\n%s", p.Canonical(), again.Canonical())
		}
	})
}

func FuzzParseAvro(f *testing.F)       { fuzzParser(f, Avro) }
func FuzzParseProtobuf(f *testing.F)   { fuzzParser(f, Protobuf) }
func FuzzParseJSONSchema(f *testing.F) { fuzzParser(f, JSON) }
