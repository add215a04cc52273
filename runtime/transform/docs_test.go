package transform

import (
	"os"
	"strings"
	"testing"
)

// Every transform has a section in docs/transforms.md.
func TestDocsCoverEveryTransform(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/transforms.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		if !strings.Contains(string(doc), "`"+name+"`") || !strings.Contains(string(doc), "- "+name+":") {
			t.Errorf("docs/transforms.md has no section or example for %s", name)
		}
	}
}
