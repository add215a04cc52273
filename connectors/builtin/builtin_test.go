package builtin

import (
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// Every built-in connector has a valid spec, and no two of one kind share a name.
func TestPluginsAreValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Plugins() {
		if err := sdk.CheckSpec(p.Spec); err != nil {
			t.Errorf("%s: %v", p.Spec.Name, err)
		}
		key := string(p.Spec.Kind) + "/" + p.Spec.Name
		if seen[key] {
			t.Errorf("two %s connectors named %q", p.Spec.Kind, p.Spec.Name)
		}
		seen[key] = true
	}
	if len(seen) < 9 {
		t.Fatalf("only %d connectors listed", len(seen))
	}
}
