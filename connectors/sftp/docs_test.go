package sftp

import (
	"flag"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the settings tables in docs/connectors")

// TestDocsMatchSpec keeps docs/connectors/sftp.md in step with the specs;
// run with -update after changing a setting.
func TestDocsMatchSpec(t *testing.T) {
	sdktest.CheckDocSections(t, "../../docs/connectors/sftp.md", *update, map[string]sdk.Spec{"source": sourceSpec, "sink": sinkSpec})
}
