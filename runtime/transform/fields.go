package transform

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// Sources of an inserted value other than a static one.
const (
	fromTopic     = "topic"
	fromPartition = "partition"
	fromOffset    = "offset"
	fromTimestamp = "timestamp"
	fromNow       = "now"
	fromKey       = "key"
)

var insertFieldEntry = entry{
	spec: sdk.Spec{
		Name: "insert_field", Kind: sdk.KindTransform,
		Summary: "Sets one field to a static value or to a property of the record.",
		Doc:     "Give exactly one of `value` and `from`. An existing field of the same name is replaced.",
		Fields: []sdk.Field{
			{Name: "field", Type: sdk.TypeString, Required: true, Doc: "Name of the field to set.", Example: "source"},
			{Name: "value", Type: sdk.TypeAny, Doc: "Static value (string, number, boolean, list or map).", Example: "web"},
			{Name: "from", Type: sdk.TypeString, Doc: "Record property to copy: the record's topic, partition, offset, timestamp or key (as a string), or now (the time the transform runs).",
				Enum: []string{fromTopic, fromPartition, fromOffset, fromTimestamp, fromKey, fromNow}},
		},
	},
	build: newInsertField,
}

type insertField struct {
	field string
	value any
	from  string
	now   func() time.Time
}

func newInsertField(cfg sdk.Config) (Transform, error) {
	t := &insertField{field: cfg.String("field"), value: cfg.Any("value"), from: cfg.String("from"), now: time.Now}
	if t.field == "" {
		return nil, configError("insert_field", "field", "must not be empty")
	}
	switch {
	case cfg.Has("value") && t.from != "":
		return nil, configError("insert_field", "from", "give either value or from, not both")
	case !cfg.Has("value") && t.from == "":
		return nil, configError("insert_field", "value", "give a static value, or from: one of topic, partition, offset, timestamp, key, now")
	}
	return t, nil
}

func (t *insertField) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	m, ok, err := fieldsOf("insert_field", rec)
	if !ok {
		return err == nil, err
	}
	v := t.value
	switch t.from {
	case fromTopic:
		v = rec.Topic
	case fromPartition:
		v = int64(rec.Partition)
	case fromOffset:
		v = rec.Offset
	case fromTimestamp:
		v = rec.Timestamp.UTC()
	case fromKey:
		v = nil
		if rec.Key != nil {
			v = string(rec.Key)
		}
	case fromNow:
		v = t.now().UTC()
	}
	m[t.field] = v
	changed(rec)
	editSchema(rec, func(s *schema.Schema) {
		schemaSet(s, schema.Field{Name: t.field, Type: typeOf(v), Optional: v == nil})
	})
	return true, nil
}

var renameEntry = entry{
	spec: sdk.Spec{
		Name: "rename", Kind: sdk.KindTransform,
		Summary: "Renames fields.",
		Doc:     "Fields missing from a record are skipped; a new name that already exists is overwritten.",
		Fields: []sdk.Field{
			{Name: "fields", Type: sdk.TypeMap, Required: true, Doc: "Map of old name to new name.", Example: "{ amount_cents: amount }"},
		},
	},
	build: func(cfg sdk.Config) (Transform, error) {
		m := cfg.Map("fields")
		if len(m) == 0 {
			return nil, configError("rename", "fields", "must name at least one field")
		}
		for from, to := range m {
			if to == "" {
				return nil, configError("rename", "fields", "new name for %q is empty", from)
			}
		}
		return rename(m), nil
	},
}

type rename map[string]string

func (t rename) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	m, ok, err := fieldsOf("rename", rec)
	if !ok {
		return err == nil, err
	}
	// Take every old value first so swaps (a→b, b→a) work.
	moved := make(map[string]any, len(t))
	for from := range t {
		if v, ok := m[from]; ok {
			moved[from] = v
			delete(m, from)
		}
	}
	if len(moved) == 0 {
		return true, nil
	}
	for from, v := range moved {
		m[t[from]] = v
	}
	changed(rec)
	editSchema(rec, func(s *schema.Schema) {
		for i := range s.Fields {
			if to, ok := t[s.Fields[i].Name]; ok {
				s.Fields[i].Name = to
			}
		}
		for i, k := range s.Key {
			if to, ok := t[k]; ok {
				s.Key[i] = to
			}
		}
	})
	return true, nil
}

func listEntry(name, summary, doc, example string, build func([]string) Transform) entry {
	return entry{
		spec: sdk.Spec{
			Name: name, Kind: sdk.KindTransform, Summary: summary, Doc: doc,
			Fields: []sdk.Field{{Name: "fields", Type: sdk.TypeList, Required: true, Doc: "Field names.", Example: example}},
		},
		shorthand: "fields",
		build: func(cfg sdk.Config) (Transform, error) {
			fields := cfg.Strings("fields")
			if len(fields) == 0 {
				return nil, configError(name, "fields", "must name at least one field")
			}
			return build(fields), nil
		},
	}
}

var dropFieldsEntry = listEntry("drop_fields", "Removes fields.",
	"Fields missing from a record are skipped.", "[password, ssn]",
	func(f []string) Transform { return fieldSet{typ: "drop_fields", names: set(f), keep: false} })

var keepFieldsEntry = listEntry("keep_fields", "Removes every field except the ones listed.",
	"Listed fields missing from a record stay missing.", "[id, amount]",
	func(f []string) Transform { return fieldSet{typ: "keep_fields", names: set(f), keep: true} })

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// fieldSet drops the listed fields, or with keep every other field.
type fieldSet struct {
	typ   string
	names map[string]bool
	keep  bool
}

func (t fieldSet) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	m, ok, err := fieldsOf(t.typ, rec)
	if !ok {
		return err == nil, err
	}
	drop := func(name string) bool { return t.names[name] != t.keep }
	n := len(m)
	for k := range m {
		if drop(k) {
			delete(m, k)
		}
	}
	if len(m) != n {
		changed(rec)
	}
	editSchema(rec, func(s *schema.Schema) { schemaRemove(s, drop) })
	return true, nil
}

var maskEntry = entry{
	spec: sdk.Spec{
		Name: "mask", Kind: sdk.KindTransform,
		Summary: "Replaces the values of sensitive fields.",
		Doc: "A masked value becomes a string. With keep_length each character of the value's text is replaced by " +
			"the first character of replacement; keep_last leaves the last characters readable (card numbers). Null values stay null.",
		Fields: []sdk.Field{
			{Name: "fields", Type: sdk.TypeList, Required: true, Doc: "Fields to mask.", Example: "[card, email]"},
			{Name: "replacement", Type: sdk.TypeString, Default: "****", Doc: "Text that replaces the value."},
			{Name: "keep_length", Type: sdk.TypeBool, Default: false, Doc: "Keep the value's length, repeating replacement's first character."},
			{Name: "keep_last", Type: sdk.TypeInt, Default: 0, Doc: "Leave this many trailing characters unmasked (implies keep_length).",
				Check: func(v any) error {
					if v.(int64) < 0 {
						return fmt.Errorf("must not be negative")
					}
					return nil
				}},
		},
	},
	shorthand: "fields",
	build: func(cfg sdk.Config) (Transform, error) {
		t := &mask{fields: cfg.Strings("fields"), replacement: cfg.String("replacement"),
			keepLength: cfg.Bool("keep_length") || cfg.Int("keep_last") > 0, keepLast: int(cfg.Int("keep_last"))}
		if len(t.fields) == 0 {
			return nil, configError("mask", "fields", "must name at least one field")
		}
		if t.keepLength && t.replacement == "" {
			return nil, configError("mask", "replacement", "must not be empty with keep_length or keep_last")
		}
		t.fill, _ = utf8.DecodeRuneInString(t.replacement)
		return t, nil
	},
}

type mask struct {
	fields      []string
	replacement string
	keepLength  bool
	keepLast    int
	fill        rune
}

func (t *mask) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	m, ok, err := fieldsOf("mask", rec)
	if !ok {
		return err == nil, err
	}
	masked := false
	for _, f := range t.fields {
		v, ok := m[f]
		if !ok || v == nil {
			continue
		}
		m[f] = t.mask(v)
		masked = true
	}
	if !masked {
		return true, nil
	}
	changed(rec)
	editSchema(rec, func(s *schema.Schema) {
		for _, f := range t.fields {
			if i := schemaIndex(s, f); i >= 0 {
				s.Fields[i] = schema.Field{Name: f, Type: schema.String, Optional: s.Fields[i].Optional, Doc: s.Fields[i].Doc}
			}
		}
	})
	return true, nil
}

func (t *mask) mask(v any) string {
	if !t.keepLength {
		return t.replacement
	}
	text := []rune(toText(v))
	hide := max(len(text)-t.keepLast, 0)
	return strings.Repeat(string(t.fill), hide) + string(text[hide:])
}
