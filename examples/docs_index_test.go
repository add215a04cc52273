package examples_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/sdk"
)

// indexRow matches a connector row of docs/connectors/README.md:
// | `name` | summary | [page.md](page.md) |
var indexRow = regexp.MustCompile("^\\| `([a-z0-9-]+)` \\|.*\\| \\[[^]]+\\]\\(([^)]+)\\) \\|$")

// The connector index lists every built-in connector under its kind, links
// pages that exist, and links every connector page there is.
func TestConnectorIndexMatchesBuiltin(t *testing.T) {
	const dir = "../docs/connectors"
	data, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[sdk.Kind][]string{}
	linked := map[string]bool{}
	var kind sdk.Kind
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "## Sources"):
			kind = sdk.KindSource
		case strings.HasPrefix(line, "## Sinks"):
			kind = sdk.KindSink
		case strings.HasPrefix(line, "## "):
			kind = ""
		}
		m := indexRow.FindStringSubmatch(line)
		if m == nil || kind == "" {
			continue
		}
		listed[kind] = append(listed[kind], m[1])
		linked[m[2]] = true
		if _, err := os.Stat(filepath.Join(dir, m[2])); err != nil {
			t.Errorf("docs/connectors/README.md:%d: %s links %s, which does not exist", i+1, m[1], m[2])
		}
	}
	for _, k := range []sdk.Kind{sdk.KindSource, sdk.KindSink} {
		var want []string
		for _, p := range builtin.Plugins() {
			if p.Spec.Kind == k {
				want = append(want, p.Spec.Name)
			}
		}
		got := slices.Clone(listed[k])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("docs/connectors/README.md lists the %s connectors %v; builtin has %v", k, got, want)
		}
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if base := filepath.Base(p); base != "README.md" && !linked[base] {
			t.Errorf("docs/connectors/README.md does not link %s", base)
		}
	}
}
