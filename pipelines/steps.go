package pipelines

import (
	"fmt"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// transforms compiles a transform chain: a list whose entries are one-key
// maps {type: settings}; a bare name stands for a transform without settings.
func (c *compiler) transforms(n *node, path string) []TransformSpec {
	if !given(n) {
		return nil
	}
	if n.kind != kindSeq {
		c.lint(n, "%s: must be a list, like - filter: \"value.amount > 100\"", path)
		return nil
	}
	var out []TransformSpec
	for i, it := range n.items {
		if t, ok := c.transform(it, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, t)
		}
	}
	return out
}

func (c *compiler) transform(n *node, path string) (TransformSpec, bool) {
	var typeNode, settings *node
	switch {
	case n.kind == kindScalar:
		typeNode = n
	case n.kind == kindMap && len(n.keys) == 1:
		typeNode, settings = n.keys[0], n.vals[0]
	default:
		c.lint(n, "%s: a transform is a one-key map {type: settings}, like - filter: \"value.amount > 100\"", path)
		return TransformSpec{}, false
	}
	typ := typeNode.str()
	spec, ok := c.transformSpec(typeNode, typ, path)
	if !ok {
		return TransformSpec{}, false
	}
	path += "." + typ
	raw, cfgNode, shorthand := map[string]any{}, (*node)(nil), (*node)(nil)
	switch {
	case !given(settings):
	case settings.kind == kindMap:
		raw, cfgNode = rawMap(settings), settings
	default:
		field := c.shorthand(typ, spec)
		if field == "" {
			if names := fieldNames(spec); len(names) > 0 {
				c.lint(settings, "%s: settings must be a map (%s), not %s", path, strings.Join(names, ", "), settings.show())
			} else {
				c.lint(settings, "%s: takes no settings", path)
			}
			return TransformSpec{}, false
		}
		raw[field], shorthand = value(settings), settings
	}
	cfg := c.validate(spec, raw, cfgNode, typeNode, typeNode, path, shorthand)
	return TransformSpec{Type: typ, Config: cfg, Raw: raw, spec: spec}, true
}

func (c *compiler) transformSpec(at *node, typ, path string) (sdk.Spec, bool) {
	if spec, ok := c.cat.Transforms[typ]; ok {
		spec.Name = typ
		return spec, true
	}
	if c.cat.isConnector(typ) {
		c.lint(at, "%s: %s is a connector, not a transform", path, typ)
		return sdk.Spec{}, false
	}
	names := sortedKeys(c.cat.Transforms)
	msg := fmt.Sprintf("%s: unknown transform %q", path, typ)
	if hint := suggest(typ, names); hint != "" {
		msg += hint
	} else if len(names) > 0 {
		msg += fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
	}
	c.lint(at, "%s", msg)
	return sdk.Spec{}, false
}

// shorthand is the setting a bare value stands for: the catalog's choice, or
// the spec's first required field, else its first field.
func (c *compiler) shorthand(typ string, spec sdk.Spec) string {
	if c.cat.Shorthands != nil {
		return c.cat.Shorthands[typ]
	}
	for _, f := range spec.Fields {
		if f.Required {
			return f.Name
		}
	}
	if len(spec.Fields) > 0 {
		return spec.Fields[0].Name
	}
	return ""
}

func fieldNames(spec sdk.Spec) []string {
	out := make([]string, len(spec.Fields))
	for i, f := range spec.Fields {
		out[i] = f.Name
	}
	return out
}
