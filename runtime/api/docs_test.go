package api

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// settingsTable renders the worker's settings, from their one spec, with
// the key a pipeline file and the REST API each use for them.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| pipeline file | REST key | type | default | applies to | description |\n|---|---|---|---|---|---|\n")
	sources := (sdk.Spec{Kind: sdk.KindSource}).WorkerSpec()
	for _, f := range (sdk.Spec{Kind: sdk.KindSink}).WorkerSpec().Fields {
		yamlKey := "`" + f.Name + "`"
		if k, ok := strings.CutPrefix(f.Name, "errors."); ok {
			yamlKey = "`errors: { " + k + " }`"
		}
		applies := "both"
		if sources.Field(f.Name) == nil {
			applies = "sinks"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", yamlKey, flatKey(f.Name), f.Type, f.DefaultDoc(), applies, f.DescriptionDoc())
	}
	return b.String()
}

// TestWorkerSettingsDocs keeps the one table of the worker's settings in
// docs/pipelines.md and docs/api.md in step with sdk.Spec.WorkerSpec; run
// with -update after changing it.
func TestWorkerSettingsDocs(t *testing.T) {
	const begin, end = "<!-- worker-settings:begin -->\n", "<!-- worker-settings:end -->"
	table := settingsTable()
	for _, path := range []string{"../../docs/pipelines.md", "../../docs/api.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(b)
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("%s: markers %q and %q missing", path, begin, end)
		}
		switch {
		case *update:
			doc = doc[:i+len(begin)] + table + doc[j:]
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
		case doc[i+len(begin):j] != table:
			t.Errorf("%s: the worker settings table is out of date; run go test ./runtime/api -run TestWorkerSettingsDocs -update", path)
		}
	}
}
