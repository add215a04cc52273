package http

import (
	"os"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// TestDocsMatchSpec keeps docs/connectors/http.md in step with the specs.
func TestDocsMatchSpec(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/connectors/http.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []sdk.Plugin{WebhookPlugin(), PollPlugin(), SinkPlugin()} {
		if !strings.Contains(string(b), p.Spec.Markdown()) {
			t.Errorf("docs/connectors/http.md does not hold the current settings of %s; paste its Spec.Markdown()", p.Spec.Name)
		}
	}
}
