package email

import (
	"os"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// TestDocsMatchSpec keeps docs/connectors/email.md in step with the specs.
func TestDocsMatchSpec(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/connectors/email.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []sdk.Plugin{SinkPlugin()} {
		if !strings.Contains(string(b), p.Spec.Markdown()) {
			t.Errorf("docs/connectors/email.md does not hold the current settings of %s; paste its Spec.Markdown()", p.Spec.Name)
		}
	}
}
