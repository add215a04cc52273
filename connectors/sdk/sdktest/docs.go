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
