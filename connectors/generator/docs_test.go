package generator

import (
	"flag"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the settings tables in docs/connectors")

// TestDocs keeps docs/connectors/generator.md in step with the specs; run with
// -update after changing a setting.
func TestDocs(t *testing.T) {
	sdktest.CheckDocSections(t, "../../docs/connectors/generator.md", *update, map[string]sdk.Spec{"source": spec})
}
