package jdbc

import (
	"flag"
	"testing"

	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/connectors/jdbc.md")

// TestDocsMatchSpec keeps the settings tables of docs/connectors/jdbc.md in
// step with the specs.
func TestDocsMatchSpec(t *testing.T) {
	sdktest.CheckDocs(t, "../../docs/connectors/jdbc.md", *update, SourcePlugin(), SinkPlugin())
}
