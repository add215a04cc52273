package pipelines

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files")

// render is what a golden file holds: the lints, or the compiled pipeline.
func render(t *testing.T, p *Pipeline, lints []Lint) string {
	t.Helper()
	if len(lints) > 0 {
		var b strings.Builder
		for _, l := range lints {
			b.WriteString(l.String() + "\n")
		}
		return b.String()
	}
	if p == nil {
		t.Fatal("Parse returned neither a pipeline nor lints")
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatalf("marshal pipeline: %v", err)
	}
	return string(data) + "\n"
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, lints := Parse(filepath.ToSlash(file), data, testCatalog(), testEnv)
			got := render(t, p, lints)
			for _, s := range testSecrets {
				if strings.Contains(got, s) {
					t.Errorf("secret %q leaked into the output:\n%s", s, got)
				}
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run go test -update after checking):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestShorthands(t *testing.T) {
	t.Parallel()
	src := "version: 1\ntopics: { t: }\nsinks:\n  s: { connector: parquet, topics: [t], config: { path: x }, transforms: [%s] }\n"
	ok := strings.Replace(src, "%s", `{ filter: "a > 1" }`, 1)
	p, lints := Parse("s.yaml", []byte(ok), shorthandCatalog(), nil)
	if len(lints) > 0 || p.Sinks[0].Transforms[0].Config.String("expr") != "a > 1" {
		t.Fatalf("filter shorthand: %v", lints)
	}
	bad := strings.Replace(src, "%s", `{ insert_field: x }`, 1)
	_, lints = Parse("s.yaml", []byte(bad), shorthandCatalog(), nil)
	want := `s.yaml:4:91: sinks.s.transforms[0].insert_field: settings must be a map (field, value), not "x"`
	if len(lints) != 1 || lints[0].String() != want {
		t.Errorf("lints: %v\nwant %s", lints, want)
	}
}

// Aliases that expand exponentially are stopped with a lint, quickly.
func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 1\nx-a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n")
	for i := 1; i < 10; i++ { // 10^10 values once expanded
		ref := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "x-a%d: &a%d [%s%s]\n", i, i, strings.Repeat(ref+", ", 9), ref)
	}
	_, lints := Parse("bomb.yaml", []byte(b.String()), testCatalog(), nil)
	if len(lints) == 0 || !strings.Contains(LintError(lints).Error(), "expands to more than") {
		t.Fatalf("lints: %v", lints)
	}
}
