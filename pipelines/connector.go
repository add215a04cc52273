package pipelines

import (
	"errors"
	"fmt"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// MaxTasks bounds a connector's parallelism.
const MaxTasks = sdk.MaxTasks

// connectorKeys are the keys of a source or sink: its own, then the
// worker's settings (sdk.Spec.WorkerSpec) that are not in errors:.
func connectorKeys(kind sdk.Kind) []string {
	keys := []string{"connector", "topic", "config", "transforms", "errors"}
	if kind == sdk.KindSink {
		keys[1] = "topics"
	}
	for _, f := range (sdk.Spec{Kind: kind}).WorkerSpec().Fields {
		if !strings.HasPrefix(f.Name, errorsPrefix) {
			keys = append(keys, f.Name)
		}
	}
	return keys
}

func (c *compiler) connectors(n *node, kind sdk.Kind) []*Connector {
	section := string(kind) + "s"
	if !c.isMap(n, section) {
		return nil
	}
	var out []*Connector
	for i, k := range n.keys {
		name, ok := c.name(k, section, "connector name")
		if !ok {
			continue
		}
		if conn := c.connector(section+"."+name, name, k, n.vals[i], kind); conn != nil {
			out = append(out, conn)
		}
	}
	return out
}

// connector compiles one source or sink; key is its name's node.
func (c *compiler) connector(path, name string, key, n *node, kind sdk.Kind) *Connector {
	if !given(n) {
		c.lint(key, "%s: needs at least connector: and config:", path)
		return nil
	}
	if !c.isMap(n, path) {
		return nil
	}
	conn := &Connector{Name: name, Kind: kind, Line: key.line}
	if kind == sdk.KindSource {
		c.checkKeys(n, path, append(connectorKeys(kind), "topics"))
		conn.Topic = c.sourceTopic(n, path)
	} else {
		c.checkKeys(n, path, append(connectorKeys(kind), "topic"))
		conn.Topics = c.sinkTopics(n, path)
	}
	spec, known := c.plugin(n, key, path, kind)
	conn.Plugin, conn.spec = spec.Name, spec
	spec.Kind = kind
	c.settings(n, key, path, spec, conn)
	cfgNode := n.get("config")
	cfgOK := !given(cfgNode) || c.isMap(cfgNode, path+".config")
	if known && cfgOK {
		c.keepPlaceholders(spec, cfgNode)
		conn.Raw = rawMap(cfgNode)
		conn.Config = c.validate(spec, conn.Raw, cfgNode, n.keyNode("config"), key, path+".config", nil)
	}
	conn.Transforms = c.transforms(n.get("transforms"), path+".transforms")
	conn.Hash = conn.hash()
	return conn
}

// keepPlaceholders expands again the settings whose spec declares
// placeholders, leaving those as written: table.name.format: "${topic}" is
// the jdbc sink's to fill in, not an environment variable.
func (c *compiler) keepPlaceholders(spec sdk.Spec, cfg *node) {
	for _, f := range spec.Fields {
		v := cfg.get(f.Name)
		if len(f.Placeholders) == 0 || v == nil {
			continue
		}
		for _, s := range append([]*node{v}, v.items...) {
			if _, ok := s.val.(string); ok && s.kind == kindScalar && s.textCol > 0 {
				c.expand(s, f.Placeholders)
			}
		}
	}
}

func rawMap(n *node) map[string]any {
	if m, ok := value(n).(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// plugin looks up the connector type; known is false when it cannot be
// used (unknown, or of the other kind), after a lint saying why.
func (c *compiler) plugin(n, key *node, path string, kind sdk.Kind) (sdk.Spec, bool) {
	pn := n.get("connector")
	if !given(pn) {
		c.lint(key, "%s.connector: missing; name the connector type, like connector: %s", path, exampleOf(c.cat, kind))
		return sdk.Spec{}, false
	}
	plugin, ok := c.str(pn, path+".connector")
	if !ok {
		return sdk.Spec{}, false
	}
	if spec, ok := c.cat.lookup(kind, plugin); ok {
		spec.Name = plugin
		return spec, true
	}
	other := sdk.KindSink
	if kind == sdk.KindSink {
		other = sdk.KindSource
	}
	if _, ok := c.cat.lookup(other, plugin); ok {
		c.lint(pn, "%s.connector: %s is a %s connector; it cannot be used as a %s (declare it under %ss:)", path, plugin, other, kind, other)
		return sdk.Spec{Name: plugin}, false
	}
	if _, isTransform := c.cat.Transforms[plugin]; isTransform {
		c.lint(pn, "%s.connector: %s is a transform, not a connector; list it under transforms:", path, plugin)
		return sdk.Spec{Name: plugin}, false
	}
	names := c.cat.names(kind)
	msg := fmt.Sprintf("%s.connector: unknown %s connector %s", path, kind, pn.show())
	if hint := suggest(plugin, names); hint != "" {
		msg += hint
	} else if len(names) > 0 {
		msg += fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
	}
	c.lint(pn, "%s", msg)
	return sdk.Spec{Name: plugin}, false
}

func exampleOf(cat Catalog, kind sdk.Kind) string {
	if names := cat.names(kind); len(names) > 0 {
		return names[0]
	}
	return "<type>"
}

func (c *compiler) sourceTopic(n *node, path string) string {
	if tn := n.get("topics"); given(tn) {
		c.lint(n.keyNode("topics"), "%s.topics: a source writes to one topic; use topic: <name>", path)
	}
	tn := n.get("topic")
	if !given(tn) {
		if !given(n.get("topics")) {
			c.lint(n, "%s.topic: missing; name the topic the source writes to", path)
		}
		return ""
	}
	t, _ := c.topicRef(tn, path+".topic")
	return t
}

func (c *compiler) sinkTopics(n *node, path string) []string {
	if tn := n.get("topic"); given(tn) {
		c.lint(n.keyNode("topic"), "%s.topic: a sink reads a list of topics; use topics: [%s]", path, tn.str())
	}
	tn := n.get("topics")
	if !given(tn) {
		if !given(n.get("topic")) {
			c.lint(n, "%s.topics: missing; list the topics the sink reads, like topics: [orders]", path)
		}
		return nil
	}
	if tn.kind != kindSeq {
		c.lint(tn, "%s.topics: must be a list, like topics: [%s]", path, tn.str())
		return nil
	}
	if len(tn.items) == 0 {
		c.lint(tn, "%s.topics: must list at least one topic", path)
	}
	var out []string
	for i, it := range tn.items {
		t, ok := c.topicRef(it, fmt.Sprintf("%s.topics[%d]", path, i))
		if !ok {
			continue
		}
		if contains(out, t) {
			c.lint(it, "%s.topics[%d]: topic %q is listed twice", path, i, t)
			continue
		}
		out = append(out, t)
	}
	return out
}

// validate checks raw settings against spec and maps each field error to its
// node. shorthand, when not nil, is the scalar that stood for the settings.
func (c *compiler) validate(spec sdk.Spec, raw map[string]any, cfgNode, cfgKey, owner *node, path string, shorthand *node) sdk.Config {
	cfg, err := spec.Validate(raw)
	var ce *sdk.ConfigError
	if err == nil || !errors.As(err, &ce) {
		if err != nil {
			c.lint(owner, "%s: %v", path, err)
		}
		return cfg
	}
	for _, fe := range ce.Errors {
		at := shorthand
		switch {
		case at != nil:
		case cfgNode.get(fe.Field) != nil && spec.Field(fe.Field) == nil:
			at = cfgNode.keyNode(fe.Field) // unknown setting: point at its name
		case cfgNode.get(fe.Field) != nil:
			at = cfgNode.get(fe.Field)
		case cfgKey != nil:
			at = cfgKey
		default:
			at = owner
		}
		c.lint(at, "%s.%s: %s", path, fe.Field, safeMessage(spec, fe, raw))
	}
	return cfg
}

// safeMessage keeps the value of a secret setting out of an error message.
func safeMessage(spec sdk.Spec, fe sdk.FieldError, raw map[string]any) string {
	f := spec.Field(fe.Field)
	v, given := raw[fe.Field]
	if f == nil || !f.Secret || !given || v == nil {
		return fe.Message
	}
	shown := fmt.Sprint(v)
	if shown != "" && strings.Contains(fe.Message, shown) {
		return "invalid value (not shown: the setting is secret)"
	}
	return fe.Message
}
