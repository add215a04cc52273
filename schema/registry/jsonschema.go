package registry

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

type jsonSchema struct {
	doc       any // the schema document, json.Number for numbers
	compiled  *jsonschema.Schema
	canonical string
}

func (j *jsonSchema) Format() Format    { return JSON }
func (j *jsonSchema) Canonical() string { return j.canonical }

// JSONSchema returns the compiled validator and the raw document of a parsed
// JSON Schema.
func JSONSchema(p Parsed) (*jsonschema.Schema, any, bool) {
	j, ok := p.(*jsonSchema)
	if !ok {
		return nil, nil, false
	}
	return j.compiled, j.doc, true
}

// jsonBase is where schemas without an absolute $id live; references with
// relative names resolve next to them.
const jsonBase = "mem://braid/"

// noLoader refuses to fetch anything: a schema may only use its references.
type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("$ref %q is not a registered reference", u)
}

func parseJSONSchema(text string, refs []resolvedRef) (*jsonSchema, error) {
	canon, doc, err := canonicalJSON(text, nil)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	mainURL := jsonBase + "schema.json"
	var base *url.URL
	if m, ok := doc.(map[string]any); ok {
		if id, ok := m["$id"].(string); ok {
			if u, err := url.Parse(id); err == nil && u.IsAbs() {
				base = u
			}
		}
	}
	for _, r := range refs {
		if r.Schema.format() != JSON {
			return nil, fmt.Errorf("reference %q is %s, not JSON", r.Name, r.Schema.format())
		}
		_, rdoc, err := canonicalJSON(r.Schema.Schema, nil)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		for _, u := range refURLs(r.Name, base) {
			if err := c.AddResource(u, rdoc); err != nil {
				return nil, fmt.Errorf("reference %q: %w", r.Name, err)
			}
		}
	}
	if err := c.AddResource(mainURL, doc); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(mainURL)
	if err != nil {
		return nil, err
	}
	return &jsonSchema{doc: doc, compiled: compiled, canonical: canon}, nil
}

// refURLs lists the URLs under which a reference can be found.
func refURLs(name string, base *url.URL) []string {
	if u, err := url.Parse(name); err == nil && u.IsAbs() {
		return []string{name}
	}
	out := []string{jsonBase + strings.TrimPrefix(name, "/")}
	if base != nil {
		if u, err := url.Parse(name); err == nil {
			out = append(out, base.ResolveReference(u).String())
		}
	}
	return out
}
