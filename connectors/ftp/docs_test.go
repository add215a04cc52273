package ftp

import (
	"flag"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the settings tables in docs/connectors")

// TestDocsMatchSpec keeps docs/connectors/ftp.md in step with the specs;
// run with -update after changing a setting.
func TestDocsMatchSpec(t *testing.T) {
	sdktest.CheckDocSections(t, "../../docs/connectors/ftp.md", *update, map[string]sdk.Spec{"source": sourceSpec, "sink": sinkSpec})
}
