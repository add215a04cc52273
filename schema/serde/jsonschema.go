package serde

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/registry"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

type jsonFormat struct{}

func (jsonFormat) name() string                    { return "jsonschema" }
func (jsonFormat) registryFormat() registry.Format { return registry.JSON }

func (jsonFormat) fromStructured(s *schema.Schema) (registry.Schema, error) {
	if err := s.Validate(); err != nil {
		return registry.Schema{}, err
	}
	doc, err := jsonObjectSchema(s.Fields)
	if err != nil {
		return registry.Schema{}, err
	}
	doc["$schema"] = "http://json-schema.org/draft-07/schema#"
	if s.Name != "" {
		doc["title"] = s.Name
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return registry.Schema{}, err
	}
	return registry.Schema{Schema: string(b), Type: registry.JSON}, nil
}

func jsonObjectSchema(fields []schema.Field) (map[string]any, error) {
	props := map[string]any{}
	required := []string{}
	for _, f := range fields {
		p, err := jsonFieldSchema(f)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		props[f.Name] = p
		if !f.Optional {
			required = append(required, f.Name)
		}
	}
	return map[string]any{"type": "object", "properties": props, "required": required}, nil
}

// braidType records Braid's type where JSON Schema has no exact one.
const braidType = "braid.type"

func jsonFieldSchema(f schema.Field) (map[string]any, error) {
	var m map[string]any
	switch f.Type {
	case schema.Boolean:
		m = map[string]any{"type": "boolean"}
	case schema.Int32, schema.Int64:
		m = map[string]any{"type": "integer"}
	case schema.Float32, schema.Float64:
		m = map[string]any{"type": "number"}
	case schema.String:
		m = map[string]any{"type": "string"}
		if f.Length > 0 {
			m["maxLength"] = f.Length
		}
	case schema.Bytes:
		m = map[string]any{"type": "string", "contentEncoding": "base64"}
	case schema.DecimalT:
		m = map[string]any{"type": "string", braidType: "decimal", "precision": f.Precision, "scale": f.Scale}
	case schema.Date:
		m = map[string]any{"type": "string", "format": "date"}
	case schema.Time:
		m = map[string]any{"type": "string", "format": "time"}
	case schema.Timestamp:
		m = map[string]any{"type": "string", "format": "date-time"}
	case schema.JSON:
		return map[string]any{}, nil
	case schema.Array, schema.Map:
		if f.Items == nil {
			return nil, fmt.Errorf("%s without items", f.Type)
		}
		item, err := jsonFieldSchema(*f.Items)
		if err != nil {
			return nil, err
		}
		if f.Type == schema.Array {
			m = map[string]any{"type": "array", "items": item}
		} else {
			m = map[string]any{"type": "object", "additionalProperties": item}
		}
	case schema.Struct:
		var err error
		if m, err = jsonObjectSchema(f.Fields); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("type %q has no JSON Schema form", f.Type)
	}
	if f.Optional {
		m["type"] = []any{m["type"], "null"}
	}
	if f.Doc != "" {
		m["description"] = f.Doc
	}
	return m, nil
}

func (jsonFormat) compile(p registry.Parsed) (codec, error) {
	v, doc, ok := registry.JSONSchema(p)
	if !ok {
		return nil, fmt.Errorf("not a JSON Schema")
	}
	c := &jsonCodec{validator: v, st: &schema.Schema{}}
	root, _ := doc.(map[string]any)
	if title, ok := root["title"].(string); ok {
		c.st.Name = title
	}
	f := jsonToField("value", doc, doc, 0)
	if f.Type == schema.Struct {
		c.st.Fields = f.Fields
	} else {
		c.st.Fields = []schema.Field{f}
	}
	return c, nil
}

type jsonCodec struct {
	validator *jsonschema.Schema
	st        *schema.Schema
}

func (c *jsonCodec) structured() *schema.Schema {
	cp := *c.st
	return &cp
}

func (c *jsonCodec) recordName() string { return c.st.Name }

func (c *jsonCodec) decode(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("payload is not JSON: %w", err)
	}
	if err := c.validator.Validate(v); err != nil {
		return nil, fmt.Errorf("payload does not match its schema: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{"value": fromJSON(c.st.Fields[0], v)}, nil
	}
	for _, f := range c.st.Fields {
		if x, ok := m[f.Name]; ok {
			m[f.Name] = fromJSON(f, x)
		}
	}
	for k, x := range m {
		if c.st.Field(k) == nil {
			m[k] = fromJSON(schema.Field{Type: schema.JSON}, x)
		}
	}
	return m, nil
}

func (c *jsonCodec) encode(dst []byte, v map[string]any) ([]byte, error) {
	b, err := json.Marshal(toJSONValue(v))
	if err != nil {
		return nil, err
	}
	// Validate what a consumer will see: the value as JSON decodes it.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if err := c.validator.Validate(doc); err != nil {
		return nil, fmt.Errorf("value does not match the schema: %w", err)
	}
	return append(dst, b...), nil
}

// toJSONValue renders Braid values the way the JSON Schema expects them.
func toJSONValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toJSONValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSONValue(e)
		}
		return out
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	case schema.Decimal:
		return string(x)
	}
	return v
}

// fromJSON turns a decoded JSON value into the Braid value of its field.
func fromJSON(f schema.Field, v any) any {
	switch x := v.(type) {
	case json.Number:
		if f.Type == schema.Int32 || f.Type == schema.Int64 || (f.Type == schema.JSON && !strings.ContainsAny(string(x), ".eE")) {
			if n, err := x.Int64(); err == nil {
				return n
			}
		}
		n, _ := x.Float64()
		return n
	case string:
		switch f.Type {
		case schema.Timestamp:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t
			}
		case schema.Date:
			if t, err := time.Parse(time.DateOnly, x); err == nil {
				return t
			}
		case schema.DecimalT:
			return schema.Decimal(x)
		case schema.Bytes:
			if b, err := base64.StdEncoding.DecodeString(x); err == nil {
				return b
			}
		}
	case map[string]any:
		for k, e := range x {
			sub := schema.Field{Type: schema.JSON}
			if f.Type == schema.Map && f.Items != nil {
				sub = *f.Items
			}
			for _, ff := range f.Fields {
				if ff.Name == k {
					sub = ff
				}
			}
			x[k] = fromJSON(sub, e)
		}
	case []any:
		sub := schema.Field{Type: schema.JSON}
		if f.Items != nil {
			sub = *f.Items
		}
		for i, e := range x {
			x[i] = fromJSON(sub, e)
		}
	}
	return v
}

// jsonToField maps a JSON Schema onto a Braid field; depth bounds $ref loops.
func jsonToField(name string, s, root any, depth int) schema.Field {
	f := schema.Field{Name: name, Type: schema.JSON}
	m, ok := s.(map[string]any)
	if !ok || depth > 32 {
		return f
	}
	if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#") {
		target := root
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/") {
			if tm, ok := target.(map[string]any); ok && tok != "" {
				target = tm[tok]
			}
		}
		return jsonToField(name, target, root, depth+1)
	}
	if d, ok := m["description"].(string); ok {
		f.Doc = d
	}
	types := jsonTypeList(m)
	if len(types) == 2 && (types[0] == "null" || types[1] == "null") {
		f.Optional = true
		if types[0] == "null" {
			types = types[1:]
		} else {
			types = types[:1]
		}
	}
	if len(types) != 1 {
		return f
	}
	switch types[0] {
	case "boolean":
		f.Type = schema.Boolean
	case "integer":
		f.Type = schema.Int64
	case "number":
		f.Type = schema.Float64
	case "string":
		f.Type = jsonStringType(m)
		if f.Type == schema.DecimalT {
			f.Precision, f.Scale = jsonInt(m["precision"]), jsonInt(m["scale"])
		}
	case "array":
		item := jsonToField("item", m["items"], root, depth+1)
		f.Type, f.Items = schema.Array, &item
	case "object":
		jsonObjectField(&f, m, root, depth)
	}
	return f
}

func jsonObjectField(f *schema.Field, m map[string]any, root any, depth int) {
	props, _ := m["properties"].(map[string]any)
	if len(props) == 0 {
		if ap, ok := m["additionalProperties"].(map[string]any); ok {
			item := jsonToField("value", ap, root, depth+1)
			f.Type, f.Items = schema.Map, &item
		}
		return
	}
	required := map[string]bool{}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	f.Type = schema.Struct
	for _, n := range names {
		sub := jsonToField(n, props[n], root, depth+1)
		sub.Optional = sub.Optional || !required[n]
		f.Fields = append(f.Fields, sub)
	}
}

func jsonTypeList(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func jsonStringType(m map[string]any) schema.Type {
	if m[braidType] == "decimal" {
		return schema.DecimalT
	}
	if m["contentEncoding"] == "base64" {
		return schema.Bytes
	}
	switch m["format"] {
	case "date-time":
		return schema.Timestamp
	case "date":
		return schema.Date
	case "time":
		return schema.Time
	}
	return schema.String
}

func jsonInt(v any) int {
	if n, ok := v.(json.Number); ok {
		i, _ := n.Int64()
		return int(i)
	}
	return 0
}
