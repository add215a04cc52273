package pipelines

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../docs/pipeline.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://braid.dev/schemas/pipeline.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

// yamlInstance reads a YAML file as the JSON value a schema validates.
func yamlInstance(t *testing.T, file string) any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

var pipelineFile = regexp.MustCompile(`^pipeline.*\.ya?ml$`)

// TestSchemaAcceptsValidPipelines validates every good testdata pipeline and
// every example pipeline against docs/pipeline.schema.json.
func TestSchemaAcceptsValidPipelines(t *testing.T) {
	t.Parallel()
	s := compileSchema(t)
	files, _ := filepath.Glob("testdata/ok_*.yaml")
	_ = filepath.WalkDir("../examples", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && pipelineFile.MatchString(d.Name()) {
			files = append(files, path)
		}
		return nil
	})
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	for _, file := range files {
		if err := s.Validate(yamlInstance(t, file)); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

// The schema is not vacuous: files with structural mistakes fail it too.
func TestSchemaRejectsMistakes(t *testing.T) {
	t.Parallel()
	s := compileSchema(t)
	for _, file := range []string{"err_keys.yaml", "err_version.yaml", "err_names.yaml", "err_transforms.yaml", "err_errors.yaml"} {
		if err := s.Validate(yamlInstance(t, "testdata/"+file)); err == nil {
			t.Errorf("%s: schema accepted it", file)
		}
	}
}
