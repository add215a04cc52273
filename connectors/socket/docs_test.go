package socket

import (
	"flag"
	"testing"

	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/connectors/socket.md")

// TestDocsMatchSpec keeps the settings tables of docs/connectors/socket.md
// in step with the specs.
func TestDocsMatchSpec(t *testing.T) {
	sdktest.CheckDocs(t, "../../docs/connectors/socket.md", *update, TCPPlugin(), UDPPlugin())
}
