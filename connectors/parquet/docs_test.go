package parquet

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

var update = flag.Bool("update", false, "rewrite the settings tables in docs/connectors")

// TestDocs keeps docs/connectors/parquet.md in step with the specs; run with
// -update after changing a setting.
func TestDocs(t *testing.T) {
	checkDocs(t, "../../docs/connectors/parquet.md", map[string]sdk.Spec{"sink": spec})
}

func checkDocs(t *testing.T, path string, specs map[string]sdk.Spec) {
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
		if *update {
			doc = doc[:i+len(begin)] + body + doc[j:]
		} else if doc[i+len(begin):j] != body {
			t.Errorf("%s: the %s settings are out of date; run go test -run TestDocs -update", path, tag)
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
