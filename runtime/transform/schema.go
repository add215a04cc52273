package transform

import (
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// editSchema applies edit to a copy of rec.Schema, when the record has one.
// The copy no longer matches the registered schema, so its Ref is cleared and
// the converter registers (or infers) the new shape.
func editSchema(rec *sdk.Record, edit func(s *schema.Schema)) {
	if rec.Schema == nil {
		return
	}
	s := *rec.Schema
	s.Fields = append([]schema.Field(nil), s.Fields...)
	s.Key = append([]string(nil), s.Key...)
	s.Ref = nil
	edit(&s)
	rec.Schema = &s
}

func schemaIndex(s *schema.Schema, name string) int {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// schemaSet replaces or appends a field.
func schemaSet(s *schema.Schema, f schema.Field) {
	if i := schemaIndex(s, f.Name); i >= 0 {
		s.Fields[i] = f
		return
	}
	s.Fields = append(s.Fields, f)
}

// schemaRemove drops fields for which drop returns true, and key fields with them.
func schemaRemove(s *schema.Schema, drop func(name string) bool) {
	out := s.Fields[:0]
	for _, f := range s.Fields {
		if !drop(f.Name) {
			out = append(out, f)
		}
	}
	s.Fields = out
	keys := s.Key[:0]
	for _, k := range s.Key {
		if !drop(k) {
			keys = append(keys, k)
		}
	}
	s.Key = keys
}

// typeOf guesses the schema type of a plain Go value.
func typeOf(v any) schema.Type {
	switch v.(type) {
	case bool:
		return schema.Boolean
	case int, int32, int64:
		return schema.Int64
	case float32, float64:
		return schema.Float64
	case schema.Decimal:
		return schema.DecimalT
	case []byte:
		return schema.Bytes
	case time.Time:
		return schema.Timestamp
	case string:
		return schema.String
	}
	return schema.JSON
}
