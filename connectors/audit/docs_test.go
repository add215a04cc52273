package audit

import (
	"os"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// TestDocsMatchSpec keeps docs/connectors/audit.md in step with the specs.
func TestDocsMatchSpec(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/connectors/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []sdk.Plugin{SinkPlugin()} {
		if !strings.Contains(string(b), p.Spec.Markdown()) {
			t.Errorf("docs/connectors/audit.md does not hold the current settings of %s; paste its Spec.Markdown()", p.Spec.Name)
		}
	}
}
