package sdktest

import (
	"os"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// DocsMarker separates a connector page's prose from the settings tables
// generated from its specs.
const DocsMarker = "<!-- generated from the specs below this line: go test -run TestDocsMatchSpec -update -->\n"

// CheckDocs keeps the generated part of a connector's docs page (everything
// after DocsMarker) equal to its specs' Markdown; with update it rewrites it.
func CheckDocs(t *testing.T, path string, update bool, plugins ...sdk.Plugin) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(b), DocsMarker)
	if !ok {
		t.Fatalf("%s lacks the marker %q", path, DocsMarker)
	}
	var gen strings.Builder
	for _, p := range plugins {
		gen.WriteString("\n" + p.Spec.Markdown())
	}
	want := head + DocsMarker + gen.String()
	if update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(b) != want {
		t.Errorf("%s is out of date with the specs; run go test -run TestDocsMatchSpec -update", path)
	}
}

// CheckDocSections keeps the marked sections of a connector's docs page equal
// to its specs: for each tag, the text between `<!-- spec:TAG:begin -->` and
// `<!-- spec:TAG:end -->` is the spec's Markdown (its title one level down).
// With update it rewrites them.
func CheckDocSections(t *testing.T, path string, update bool, specs map[string]sdk.Spec) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for tag, spec := range specs {
		begin, end := "<!-- spec:"+tag+":begin -->\n", "<!-- spec:"+tag+":end -->"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("%s: markers %q and %q missing", path, begin, end)
		}
		body := strings.Replace(spec.Markdown(), "# ", "## ", 1) + "\n"
		if update {
			doc = doc[:i+len(begin)] + body + doc[j:]
		} else if doc[i+len(begin):j] != body {
			t.Errorf("%s: the %s settings are out of date; run go test -run TestDocs -update", path, tag)
		}
	}
	if update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
