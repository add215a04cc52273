package audit

import (
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// A second task would append to the same chain: it is refused by name.
func TestSecondTaskRefused(t *testing.T) {
	cfg, err := SinkPlugin().Spec.Validate(map[string]any{"path": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = SinkPlugin().NewSink(cfg, sdk.Env{Connector: "trail", Task: 1})
	if err == nil || !sdk.IsFatal(err) || !strings.Contains(err.Error(), "tasks: 1") {
		t.Fatalf("second task: %v", err)
	}
}
