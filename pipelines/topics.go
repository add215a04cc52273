package pipelines

import (
	"fmt"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

var topicKeys = []string{"partitions", "retention", "max_bytes", "replicas", "discard", "batching", "compression", "converter", "schema"}

// Limits on topic settings.
const (
	MaxPartitions = 1024
	MaxReplicas   = 5
)

var (
	discards      = []string{"reject", "old"}
	compressions  = []string{"none", "s2"}
	schemaFormats = []string{"avro", "protobuf", "jsonschema"}
	compatModes   = []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}
)

func (c *compiler) topicsSection(n *node) {
	if !c.isMap(n, "topics") {
		return
	}
	// Collect names first so a typo in one topic's references can be
	// matched against all of them.
	for _, k := range n.keys {
		if name, ok := c.name(k, "topics", "topic name"); ok {
			c.topics = append(c.topics, name)
		}
	}
	for i, k := range n.keys {
		if !sdk.ValidName(k.str()) {
			continue
		}
		t := c.topic(k.str(), n.vals[i])
		t.Line = k.line
		c.pl.Topics = append(c.pl.Topics, t)
	}
}

// topic compiles one topic; `orders:` with nothing after it takes every
// default.
func (c *compiler) topic(name string, n *node) TopicSpec {
	t := TopicSpec{Name: name, Partitions: DefaultPartitions, Replicas: DefaultReplicas,
		Discard: discards[0], Converter: ConverterSpec{Type: DefaultConverter}}
	path := "topics." + name
	if !c.isMap(n, path) {
		return t
	}
	c.checkKeys(n, path, topicKeys)
	if v, ok := c.integer(n.get("partitions"), path+".partitions", 1, MaxPartitions); ok {
		t.Partitions = int(v)
	}
	t.Retention, _ = c.duration(n.get("retention"), path+".retention")
	t.MaxBytes, _ = c.size(n.get("max_bytes"), path+".max_bytes")
	if v, ok := c.integer(n.get("replicas"), path+".replicas", 1, MaxReplicas); ok {
		t.Replicas = int(v)
	}
	if v, ok := c.enum(n.get("discard"), path+".discard", discards); ok {
		t.Discard = v
	}
	if v, ok := c.boolean(n.get("batching"), path+".batching"); ok {
		t.Batching = &v
	}
	t.Compression, _ = c.enum(n.get("compression"), path+".compression", compressions)
	conv := n.get("converter")
	if cs, ok := c.converter(conv, path+".converter"); ok {
		t.Converter = cs
	}
	t.Schema = c.schema(n.get("schema"), name, path+".schema")
	if t.Schema != nil {
		switch {
		case !given(conv):
			t.Converter = ConverterSpec{Type: t.Schema.Format}
		case t.Converter.Type != t.Schema.Format:
			c.lint(conv, "%s.converter: %q does not match the schema format %q; leave converter out or make them equal",
				path, t.Converter.Type, t.Schema.Format)
		}
	}
	return t
}

var schemaKeys = []string{"format", "subject", "compatibility"}

func (c *compiler) schema(n *node, topic, path string) *SchemaSpec {
	if !c.isMap(n, path) {
		return nil
	}
	c.checkKeys(n, path, schemaKeys)
	s := &SchemaSpec{Subject: topic + "-value"}
	f := n.get("format")
	if !given(f) {
		c.lint(n, "%s.format: missing; one of %s", path, strings.Join(schemaFormats, ", "))
	}
	s.Format, _ = c.enum(f, path+".format", schemaFormats)
	if v, ok := c.str(n.get("subject"), path+".subject"); ok {
		if strings.TrimSpace(v) == "" {
			c.lint(n.get("subject"), "%s.subject: must not be empty", path)
		}
		s.Subject = v
	}
	if v, ok := c.str(n.get("compatibility"), path+".compatibility"); ok {
		up := strings.ToUpper(v)
		if !contains(compatModes, up) {
			c.lint(n.get("compatibility"), "%s.compatibility: must be one of %s, not %s", path, strings.Join(compatModes, ", "), n.get("compatibility").show())
		}
		s.Compatibility = up
	}
	return s
}

var converterKeys = []string{"type"}

// converter reads `json` or `{type: json, ...options}`.
func (c *compiler) converter(n *node, path string) (ConverterSpec, bool) {
	if !given(n) {
		return ConverterSpec{}, false
	}
	var cs ConverterSpec
	tn := n
	switch n.kind {
	case kindScalar:
		cs.Type, _ = c.str(n, path)
	case kindMap:
		tn = n.get("type")
		if !given(tn) {
			c.lint(n, "%s.type: missing; name the converter, like type: json", path)
			return cs, false
		}
		cs.Type, _ = c.str(tn, path+".type")
		for i, k := range n.keys {
			if k.str() != "type" {
				if cs.Options == nil {
					cs.Options = map[string]any{}
				}
				cs.Options[k.str()] = value(n.vals[i])
			}
		}
	default:
		c.lint(n, "%s: must be a converter name or a map with type:, not %s", path, n.show())
		return cs, false
	}
	if len(c.cat.Converters) > 0 && !contains(c.cat.Converters, cs.Type) {
		msg := fmt.Sprintf("%s: unknown converter %s", path, tn.show())
		if hint := suggest(cs.Type, c.cat.Converters); hint != "" {
			msg += hint
		} else {
			msg += fmt.Sprintf(" (known: %s)", strings.Join(c.cat.Converters, ", "))
		}
		c.lint(tn, "%s", msg)
		return cs, false
	}
	return cs, cs.Type != ""
}
