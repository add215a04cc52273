package pipelines

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks Parse never panics and always answers with a pipeline or
// with lints that carry a position.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("version: 1\ntopics: {t: {partitions: \"${X:-\"}}"))
	cat := testCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, lints := ParseWith("fuzz.yaml", data, cat, Options{Env: testEnv})
		if (p == nil) == (len(lints) == 0) {
			t.Fatalf("pipeline %v with %d lints", p != nil, len(lints))
		}
		for _, l := range lints {
			if l.Line < 1 || l.Column < 1 || l.Msg == "" {
				t.Fatalf("bad lint %+v", l)
			}
		}
		if p != nil {
			_ = Diff(p, p).String()
		}
	})
}
