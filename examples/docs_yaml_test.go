package examples_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/braidhq/braid/pipelines"
	"go.yaml.in/yaml/v3"
)

// yamlBlock is one ```yaml block of a Markdown file.
type yamlBlock struct {
	file string
	line int // of the block's first line
	text []byte
}

// pipelineBlocks returns the ```yaml blocks of the Markdown files under the
// given roots that look like pipeline files: a top-level version:, sources:
// or sinks: key.
func pipelineBlocks(t *testing.T, roots ...string) []yamlBlock {
	t.Helper()
	looksLikePipeline := regexp.MustCompile(`(?m)^(version|sources|sinks):`)
	var out []yamlBlock
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			lines := bytes.SplitAfter(data, []byte("\n"))
			for i := 0; i < len(lines); i++ {
				if strings.TrimSpace(string(lines[i])) != "```yaml" {
					continue
				}
				start := i + 1
				var text []byte
				for i++; i < len(lines) && !bytes.HasPrefix(bytes.TrimSpace(lines[i]), []byte("```")); i++ {
					text = append(text, lines[i]...)
				}
				if looksLikePipeline.Match(text) {
					out = append(out, yamlBlock{path, start + 1, text})
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Every pipeline shown in the docs, the examples and the README lints clean
// with the real catalog, so no example a reader copies can be wrong. The
// environment gives each ${VAR} a value of the shape its name suggests.
func TestDocPipelinesLint(t *testing.T) {
	blocks := pipelineBlocks(t, filepath.Join("..", "docs"), ".", filepath.Join("..", "README.md"))
	if len(blocks) < 10 {
		t.Fatalf("found only %d pipeline blocks", len(blocks))
	}
	cat := catalog()
	for _, b := range blocks {
		text, shift := completeFragment(t, b)
		_, lints := pipelines.ParseWith("example.yaml", text, cat, pipelines.Options{
			Env:      exampleEnv,
			ReadFile: func(string) ([]byte, error) { return []byte("secret\n"), nil },
		})
		for _, l := range lints {
			t.Errorf("%s:%d: %s", b.file, b.line+l.Line-1-shift, l.Msg)
		}
	}
}

// completeFragment makes a block that shows only sources: or sinks: a whole
// file: connector pages leave out version: and the topics their connectors
// name. shift is the number of lines put in front.
func completeFragment(t *testing.T, b yamlBlock) ([]byte, int) {
	t.Helper()
	var doc struct {
		Version any                       `yaml:"version"`
		Topics  map[string]any            `yaml:"topics"`
		Sources map[string]map[string]any `yaml:"sources"`
		Sinks   map[string]map[string]any `yaml:"sinks"`
	}
	if err := yaml.Unmarshal(b.text, &doc); err != nil || doc.Version != nil {
		return b.text, 0 // a whole file, or broken: lint it as it is
	}
	out := append([]byte("version: 1\n"), b.text...)
	if doc.Topics == nil {
		out = append(out, "topics:\n"...)
		seen := map[string]bool{}
		declare := func(v any) {
			if name, ok := v.(string); ok && !seen[name] {
				seen[name] = true
				out = append(out, "  "+name+": {}\n"...)
			}
		}
		for _, c := range doc.Sources {
			declare(c["topic"])
		}
		for _, c := range doc.Sinks {
			if list, ok := c["topics"].([]any); ok {
				for _, v := range list {
					declare(v)
				}
			}
		}
	}
	return out, 1
}

// exampleEnv answers every upper-case variable, with a DSN or URL where the
// name asks for one. A lower-case ${name} is a connector's placeholder, which
// must never reach the environment.
func exampleEnv(name string) (string, bool) {
	switch {
	case strings.ToUpper(name) != name:
		return "", false
	case strings.Contains(name, "PG") || strings.Contains(name, "POSTGRES"):
		return "postgres://braid@127.0.0.1:5432/test", true
	case strings.Contains(name, "DSN"):
		return "root@tcp(127.0.0.1:3306)/test", true
	case strings.Contains(name, "SMTP"):
		return "smtp://alerts@127.0.0.1:25", true
	case strings.Contains(name, "URL"):
		return "http://127.0.0.1:8080", true
	}
	return "value", true
}
