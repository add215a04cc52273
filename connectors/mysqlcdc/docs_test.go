package mysqlcdc

import (
	"flag"
	"testing"

	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/connectors/mysql-cdc.md")

// TestDocsMatchSpec keeps the settings table of docs/connectors/mysql-cdc.md
// in step with the spec.
func TestDocsMatchSpec(t *testing.T) {
	sdktest.CheckDocs(t, "../../docs/connectors/mysql-cdc.md", *update, Plugin())
}
