package examples_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/braidhq/braid/pipelines"
)

// The pipeline shown in the top-level README lints clean, so the first thing a
// reader copies works.
func TestReadmePipelineLints(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no yaml block")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "smtp-password"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) {
		if name == "SHOP_DSN" {
			return "root@tcp(127.0.0.1:3306)/test", true
		}
		return "", false
	}
	p, lints := pipelines.Parse(filepath.Join(dir, "readme.yaml"), m[1], catalog(), env)
	for _, l := range lints {
		t.Errorf("%s", l.String())
	}
	if p != nil && len(p.Connectors()) != 3 {
		t.Errorf("README pipeline has %d connectors, want 3", len(p.Connectors()))
	}
}
