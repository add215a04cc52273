package pipelines

import (
	"encoding/json"
	"fmt"
	"reflect"

	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// Op says how one topic or connector changed.
type Op string

// The three kinds of change.
const (
	Added   Op = "added"
	Removed Op = "removed"
	Changed Op = "changed"
)

// FieldChange is one setting that differs; secret values show as sdk.Hidden.
type FieldChange struct {
	Path string `json:"path"` // "partitions", "config.path", "errors.retries"
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Change is one topic or connector that was added, removed or changed.
type Change struct {
	Op     Op            `json:"op"`
	Kind   string        `json:"kind"` // "topic", "source" or "sink"
	Name   string        `json:"name"`
	Fields []FieldChange `json:"fields,omitempty"` // for Changed
}

// Changes is what turns one pipeline into another: what a live reload must
// create, delete or restart.
type Changes struct {
	// NATS: the cluster connection changed, which needs a worker restart.
	NATS       bool     `json:"nats,omitempty"`
	Topics     []Change `json:"topics,omitempty"`
	Connectors []Change `json:"connectors,omitempty"`
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return !c.NATS && len(c.Topics) == 0 && len(c.Connectors) == 0 }

// String renders the changes one per line: + added, - removed, ~ changed.
func (c Changes) String() string {
	if c.Empty() {
		return "no changes\n"
	}
	var b strings.Builder
	if c.NATS {
		b.WriteString("~ nats connection (restart the workers to apply)\n")
	}
	for _, ch := range append(append([]Change(nil), c.Topics...), c.Connectors...) {
		b.WriteString(ch.String() + "\n")
	}
	return b.String()
}

// String renders one change.
func (ch Change) String() string {
	sign := map[Op]string{Added: "+", Removed: "-", Changed: "~"}[ch.Op]
	s := fmt.Sprintf("%s %s %s", sign, ch.Kind, ch.Name)
	if len(ch.Fields) == 0 {
		return s
	}
	parts := make([]string, len(ch.Fields))
	for i, f := range ch.Fields {
		parts[i] = fmt.Sprintf("%s %s → %s", f.Path, orNone(f.Old), orNone(f.New))
	}
	return s + ": " + strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Diff lists what changed from old to new; a nil old means everything is new.
func Diff(old, new *Pipeline) Changes {
	if old == nil {
		old = &Pipeline{}
	}
	if new == nil {
		new = &Pipeline{}
	}
	var c Changes
	c.NATS = !reflect.DeepEqual(old.NATS, new.NATS)
	oldTopics := map[string]*TopicSpec{}
	for i := range old.Topics {
		oldTopics[old.Topics[i].Name] = &old.Topics[i]
	}
	for i := range new.Topics {
		t := &new.Topics[i]
		o, ok := oldTopics[t.Name]
		delete(oldTopics, t.Name)
		switch {
		case !ok:
			c.Topics = append(c.Topics, Change{Op: Added, Kind: "topic", Name: t.Name})
		default:
			if f := topicFields(o, t); len(f) > 0 {
				c.Topics = append(c.Topics, Change{Op: Changed, Kind: "topic", Name: t.Name, Fields: f})
			}
		}
	}
	for _, name := range sortedKeys(oldTopics) {
		c.Topics = append(c.Topics, Change{Op: Removed, Kind: "topic", Name: name})
	}
	c.Connectors = diffConnectors(old.Connectors(), new.Connectors())
	return c
}

func diffConnectors(old, new []*Connector) []Change {
	var out []Change
	byName := map[string]*Connector{}
	for _, o := range old {
		byName[o.Name] = o
	}
	for _, n := range new {
		o, ok := byName[n.Name]
		delete(byName, n.Name)
		switch {
		case !ok:
			out = append(out, Change{Op: Added, Kind: string(n.Kind), Name: n.Name})
		case o.Hash != n.Hash:
			out = append(out, Change{Op: Changed, Kind: string(n.Kind), Name: n.Name, Fields: connectorFields(o, n)})
		}
	}
	for _, o := range old {
		if _, gone := byName[o.Name]; gone {
			out = append(out, Change{Op: Removed, Kind: string(o.Kind), Name: o.Name})
		}
	}
	return out
}

// fields accumulates FieldChanges for values that differ.
type fields []FieldChange

func (f *fields) add(path string, old, new any) {
	if reflect.DeepEqual(old, new) {
		return
	}
	*f = append(*f, FieldChange{Path: path, Old: showValue(old), New: showValue(new)})
}

func topicFields(o, n *TopicSpec) []FieldChange {
	var f fields
	f.add("partitions", o.Partitions, n.Partitions)
	f.add("retention", o.Retention, n.Retention)
	f.add("max_bytes", o.MaxBytes, n.MaxBytes)
	f.add("replicas", o.Replicas, n.Replicas)
	f.add("discard", o.Discard, n.Discard)
	f.add("batching", o.Batching, n.Batching)
	f.add("compression", o.Compression, n.Compression)
	f.add("converter", o.Converter, n.Converter)
	f.add("schema", o.Schema, n.Schema)
	return f
}

func connectorFields(o, n *Connector) []FieldChange {
	var f fields
	f.add("kind", o.Kind, n.Kind)
	f.add("connector", o.Plugin, n.Plugin)
	f.add("topic", o.Topic, n.Topic)
	f.add("topics", o.Topics, n.Topics)
	f.add("tasks", o.Tasks, n.Tasks)
	f.add("group", o.Group, n.Group)
	f.add("start", o.Start, n.Start)
	oc, nc := effective(o.spec, o.Config), effective(n.spec, n.Config)
	keys := map[string]bool{}
	for k := range oc {
		keys[k] = true
	}
	for k := range nc {
		keys[k] = true
	}
	names := sortedKeys(keys)
	oShown, nShown := o.spec.Redact(oc), n.spec.Redact(nc) // passwords in URLs hidden
	for _, k := range names {
		ov, nv := oc[k], nc[k]
		if reflect.DeepEqual(ov, nv) {
			continue
		}
		if isSecret(o.spec, k) || isSecret(n.spec, k) {
			f = append(f, FieldChange{Path: "config." + k, Old: hiddenIf(ov), New: hiddenIf(nv)})
			continue
		}
		f = append(f, FieldChange{Path: "config." + k, Old: showValue(oShown[k]), New: showValue(nShown[k])})
	}
	if !reflect.DeepEqual(transformsView(o), transformsView(n)) {
		f = append(f, FieldChange{Path: "transforms", Old: showValue(transformsView(o)), New: showValue(transformsView(n))})
	}
	f.add("converter", o.Converter, n.Converter)
	f.add("errors", o.Errors, n.Errors)
	if len(f) == 0 {
		// A secret inside a transform, or a spec change: still a change.
		f = append(f, FieldChange{Path: "settings", Old: sdk.Hidden, New: sdk.Hidden})
	}
	return f
}

func isSecret(spec sdk.Spec, name string) bool {
	fl := spec.Field(name)
	return fl != nil && fl.Secret
}

func hiddenIf(v any) string {
	if v == nil {
		return ""
	}
	return sdk.Hidden
}

// transformsView is a connector's chain with secret settings hidden.
func transformsView(c *Connector) []map[string]any {
	out := make([]map[string]any, len(c.Transforms))
	for i, t := range c.Transforms {
		out[i] = map[string]any{t.Type: t.spec.Redact(effective(t.spec, t.Config))}
	}
	return out
}

// showValue renders a setting for a change listing.
func showValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Duration:
		if x == 0 {
			return ""
		}
		return x.String()
	case *bool:
		if x == nil {
			return ""
		}
		return fmt.Sprint(*x)
	case int, int64, float64, bool, sdk.Kind:
		return fmt.Sprint(x)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return ""
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "a > 1" reads better than "a \u003e 1"
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
