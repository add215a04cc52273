package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintFileFlag: braid lint takes its files as arguments or, as braid
// run does, with -f; a typo is reported at file:line:col either way, and
// no file at all says how to name one.
func TestLintFileFlag(t *testing.T) {
	good, err := os.ReadFile("../../examples/quickstart/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(good), "connector: file", "conector: file", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"lint", bad}, {"lint", "-f", bad}} {
		out, err := braidCLI(t, args...)
		if err == nil || !strings.Contains(out, bad+":") || !strings.Contains(out, `unknown key "conector"`) || !strings.Contains(out, `did you mean "connector"`) {
			t.Errorf("%v: err %v, output %q; want the typo at file:line:col", args, err, out)
		}
	}
	if out, err := braidCLI(t, "lint", "-f", "../../examples/quickstart/pipeline.yaml"); err != nil {
		t.Errorf("lint -f of the quick start: %v\n%s", err, out)
	}
	if _, err := braidCLI(t, "lint"); err == nil || !strings.Contains(err.Error(), "-f FILE") {
		t.Errorf("lint without files: %v, want how to name them", err)
	}
}

// TestRunFileArgument: braid run takes its pipeline file with -f or as its
// argument (docs/pipelines.md says `braid run pipeline.yaml`), one of them.
func TestRunFileArgument(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	base := []string{"--data-dir", t.TempDir(), "--http", "", "--kafka", "off", "--once", "--memory", "none"}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"run", missing}, missing},
		{[]string{"run", "-f", missing}, missing},
		{[]string{"run", "a.yaml", "b.yaml"}, "one pipeline file per run"},
		{[]string{"run", "-f", "a.yaml", "b.yaml"}, "two pipeline files"},
	} {
		out, err := braidCLI(t, append(c.args, base...)...)
		if err == nil || !strings.Contains(err.Error()+out, c.says) {
			t.Errorf("%v: err %v, output %q; want it to say %q", c.args, err, out, c.says)
		}
	}
}
