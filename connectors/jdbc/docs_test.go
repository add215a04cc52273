package jdbc

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/connectors/jdbc.md")

const docsFile, docsMarker = "../../docs/connectors/jdbc.md", "<!-- generated from the specs below this line: go test -run TestDocsMatchSpec -update -->\n"

// TestDocsMatchSpec keeps the settings tables of docs/connectors/jdbc.md in
// step with the specs.
func TestDocsMatchSpec(t *testing.T) {
	b, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(b), docsMarker)
	if !ok {
		t.Fatalf("%s lacks the marker %q", docsFile, docsMarker)
	}
	var gen strings.Builder
	for _, p := range []sdk.Plugin{SourcePlugin(), SinkPlugin()} {
		gen.WriteString("\n" + p.Spec.Markdown())
	}
	want := head + docsMarker + gen.String()
	if *update {
		if err := os.WriteFile(docsFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(b) != want {
		t.Errorf("%s is out of date with the specs; run go test -run TestDocsMatchSpec -update", docsFile)
	}
}
