package pipelines

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// manySources is an honest pipeline with n sources and one sink.
func manySources(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\ntopics:\n  t: { partitions: 1 }\nsources:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    connector: http-webhook\n    topic: t\n    config:\n      listen: \":%d\"\n      path: /hook/%d\n", i, 9000+i%1000, i)
	}
	b.WriteString("sinks:\n  lake: { connector: parquet, topics: [t], config: { path: ./lake } }\n")
	return []byte(b.String())
}

// A large honest file lints clean: no value budget or alias counter may
// count the values it simply writes out.
func TestManySourcesLintClean(t *testing.T) {
	t.Parallel()
	p, lints := Parse("big.yaml", manySources(20_000), testCatalog(), nil)
	if len(lints) > 0 {
		t.Fatalf("%d lints, first: %v", len(lints), lints[0])
	}
	if len(p.Sources) != 20_000 || p.Sources[19_999].Name != "s19999" {
		t.Fatalf("%d sources", len(p.Sources))
	}
}

func BenchmarkParseManySources(b *testing.B) {
	data := manySources(20_000)
	cat := testCatalog()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, lints := Parse("big.yaml", data, cat, nil); len(lints) > 0 {
			b.Fatal(lints[0])
		}
	}
}

// Hostile shapes are refused with one lint at a position, before the YAML
// parser builds them.
func TestBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, want string
	}{
		{"flow nesting", "version: 1\nx-a: " + strings.Repeat("[", 40_000),
			"deep.yaml:2:70: maps and lists nest deeper than 64 levels here; flatten the file"},
		{"flow maps", "version: 1\nx-a: " + strings.Repeat("{a: ", 100) + "1" + strings.Repeat("}", 100),
			"deep.yaml:2:262: maps and lists nest deeper than 64 levels here; flatten the file"},
		{"block nesting", "version: 1\nx-a:\n" + blockNest(70),
			"deep.yaml:66:129: maps and lists nest deeper than 64 levels here; flatten the file"},
		{"many values", "version: 1\nx-a: [" + strings.Repeat("1,", MaxValues) + "1]\n",
			// version:, x-a: and [ count, then each comma.
			fmt.Sprintf("deep.yaml:2:%d: the file holds more than %d values; split it into several pipeline files", 6+2*(MaxValues-2), MaxValues)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, lints := Parse("deep.yaml", []byte(tt.data), testCatalog(), nil)
			runtime.ReadMemStats(&after)
			if len(lints) != 1 || lints[0].String() != tt.want {
				t.Fatalf("lints: %v\nwant %s", lints, tt.want)
			}
			if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 64 {
				t.Errorf("refusing it allocated %d MB", mb)
			}
		})
	}
}

// blockNest writes n maps nested by indentation.
func blockNest(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%sa%d:\n", strings.Repeat("  ", i), i)
	}
	return b.String()
}

// A key written twice is a mistake the parser does not report.
func TestDuplicateKey(t *testing.T) {
	t.Parallel()
	_, lints := Parse("dup.yaml", []byte("version: 1\ntopics:\n  t: {}\n  t: {}\n"), testCatalog(), nil)
	want := `dup.yaml:4:3: key "t" is written twice in this map (first at line 3)`
	if len(lints) == 0 || lints[0].String() != want {
		t.Fatalf("lints: %v\nwant %s", lints, want)
	}
}
