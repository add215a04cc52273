package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

var valueToKeyEntry = entry{
	spec: sdk.Spec{
		Name: "value_to_key", Kind: sdk.KindTransform,
		Summary: "Sets the record key from value fields.",
		Doc: "With one field the key is that field's text (a string as is, a number in decimal); with several it is " +
			"a JSON object of those fields in the order listed. A missing field is a record error.",
		Fields: []sdk.Field{{Name: "fields", Type: sdk.TypeList, Required: true, Doc: "Fields that make the key.", Example: "[customer_id]"}},
	},
	shorthand: "fields",
	build: func(cfg sdk.Config) (Transform, error) {
		f := cfg.Strings("fields")
		if len(f) == 0 {
			return nil, configError("value_to_key", "fields", "must name at least one field")
		}
		return valueToKey(f), nil
	},
}

type valueToKey []string

func (t valueToKey) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	m, ok, err := fieldsOf("value_to_key", rec)
	if !ok {
		return err == nil, err
	}
	for _, f := range t {
		if _, ok := m[f]; !ok {
			return false, recordError("value_to_key", rec, fmt.Errorf("field %q is missing", f))
		}
	}
	if len(t) == 1 {
		rec.Key = []byte(toText(m[t[0]]))
		return true, nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range t {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f)
		v, err := json.Marshal(m[f])
		if err != nil {
			return false, recordError("value_to_key", rec, fmt.Errorf("field %q: %w", f, err))
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	rec.Key = b.Bytes()
	return true, nil
}

var extractFieldEntry = entry{
	spec: sdk.Spec{
		Name: "extract_field", Kind: sdk.KindTransform,
		Summary: "Replaces the value with one of its fields.",
		Doc: "The field may be a dotted path into nested maps (after.payload). A map becomes the new structured " +
			"value; a string or bytes become the raw value; other values are written as JSON; null makes a tombstone. " +
			"A missing field is a record error.",
		Fields: []sdk.Field{{Name: "field", Type: sdk.TypeString, Required: true, Doc: "Field (or dotted path) to extract.", Example: "after"}},
	},
	shorthand: "field",
	build: func(cfg sdk.Config) (Transform, error) {
		path := strings.Split(cfg.String("field"), ".")
		for _, p := range path {
			if p == "" {
				return nil, configError("extract_field", "field", "%q is not a field name or dotted path", cfg.String("field"))
			}
		}
		return extractField(path), nil
	},
}

type extractField []string

var errMissing = errors.New("missing")

func (t extractField) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	m, ok, err := fieldsOf("extract_field", rec)
	if !ok {
		return err == nil, err
	}
	var v any = m
	for i, p := range t {
		inner, ok := v.(map[string]any)
		if !ok {
			return false, recordError("extract_field", rec, fmt.Errorf("field %q is not a map", strings.Join(t[:i], ".")))
		}
		if v, ok = inner[p]; !ok {
			return false, recordError("extract_field", rec, fmt.Errorf("field %q: %w", strings.Join(t[:i+1], "."), errMissing))
		}
	}
	sub := rec.Schema.Field(t[0])
	rec.Schema = nil
	rec.Fields, rec.Value = nil, nil
	switch x := v.(type) {
	case map[string]any:
		rec.Fields = x
		if len(t) == 1 && sub != nil && sub.Type == schema.Struct {
			rec.Schema = &schema.Schema{Name: sub.Name, Fields: sub.Fields}
		}
	case nil:
		// a tombstone: no value at all
	case string:
		rec.Value = []byte(x)
	case []byte:
		rec.Value = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return false, recordError("extract_field", rec, fmt.Errorf("field %q: %w", strings.Join(t, "."), err))
		}
		rec.Value = b
	}
	return true, nil
}

var setHeaderEntry = entry{
	spec: sdk.Spec{
		Name: "set_header", Kind: sdk.KindTransform,
		Summary: "Sets record headers to static values or to value fields.",
		Doc:     "A header copied from a field that is missing or null is removed.",
		Fields: []sdk.Field{
			{Name: "headers", Type: sdk.TypeMap, Doc: "Map of header name to static value.", Example: "{ origin: web }"},
			{Name: "from_fields", Type: sdk.TypeMap, Doc: "Map of header name to the value field whose text it takes.", Example: "{ tenant: tenant_id }"},
		},
	},
	build: func(cfg sdk.Config) (Transform, error) {
		t := &setHeader{static: cfg.Map("headers"), fromFields: cfg.Map("from_fields")}
		if len(t.static) == 0 && len(t.fromFields) == 0 {
			return nil, configError("set_header", "headers", "give headers, from_fields or both")
		}
		return t, nil
	},
}

type setHeader struct {
	static     map[string]string
	fromFields map[string]string
}

func (t *setHeader) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	for k, v := range t.static {
		rec.Headers.Set(k, v)
	}
	if len(t.fromFields) == 0 {
		return true, nil
	}
	m, err := rec.Structured()
	if err != nil {
		return false, recordError("set_header", rec, err)
	}
	for h, f := range t.fromFields {
		if v, ok := m[f]; ok && v != nil {
			rec.Headers.Set(h, toText(v))
		} else {
			rec.Headers.Del(h)
		}
	}
	return true, nil
}

var dropHeaderEntry = entry{
	spec: sdk.Spec{
		Name: "drop_header", Kind: sdk.KindTransform,
		Summary: "Removes record headers.",
		Fields:  []sdk.Field{{Name: "headers", Type: sdk.TypeList, Required: true, Doc: "Header names to remove.", Example: "[x-debug]"}},
	},
	shorthand: "headers",
	build: func(cfg sdk.Config) (Transform, error) {
		h := cfg.Strings("headers")
		if len(h) == 0 {
			return nil, configError("drop_header", "headers", "must name at least one header")
		}
		return dropHeader(h), nil
	},
}

type dropHeader []string

func (t dropHeader) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	for _, h := range t {
		rec.Headers.Del(h)
	}
	return true, nil
}
