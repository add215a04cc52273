package serde

import (
	"encoding/json"
	"fmt"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/registry"
	"github.com/hamba/avro/v2"
)

// avroNamespace is the namespace of records Braid generates.
const avroNamespace = "braid"

func (avroFormat) fromStructured(s *schema.Schema) (registry.Schema, error) {
	if err := s.Validate(); err != nil {
		return registry.Schema{}, err
	}
	name := avroName(s.Name)
	rec, err := avroRecord(name, s.Fields, name+"_")
	if err != nil {
		return registry.Schema{}, err
	}
	rec["namespace"] = avroNamespace
	b, err := json.Marshal(rec)
	if err != nil {
		return registry.Schema{}, err
	}
	return registry.Schema{Schema: string(b)}, nil
}

func avroRecord(name string, fields []schema.Field, prefix string) (map[string]any, error) {
	out := make([]any, 0, len(fields))
	for _, f := range fields {
		t, err := avroType(f, prefix+avroName(f.Name))
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		fm := map[string]any{"name": avroName(f.Name), "type": t}
		if f.Optional {
			fm["type"] = []any{"null", t}
			fm["default"] = nil
		}
		if f.Doc != "" {
			fm["doc"] = f.Doc
		}
		out = append(out, fm)
	}
	return map[string]any{"type": "record", "name": name, "fields": out}, nil
}

// avroType renders one field type; name names nested records.
func avroType(f schema.Field, name string) (any, error) {
	switch f.Type {
	case schema.Boolean:
		return "boolean", nil
	case schema.Int32:
		return "int", nil
	case schema.Int64:
		return "long", nil
	case schema.Float32:
		return "float", nil
	case schema.Float64:
		return "double", nil
	case schema.String:
		return "string", nil
	case schema.Bytes:
		return "bytes", nil
	case schema.DecimalT:
		p := f.Precision
		if p <= 0 {
			p = 38
		}
		return map[string]any{"type": "bytes", "logicalType": "decimal", "precision": p, "scale": f.Scale}, nil
	case schema.Date:
		return map[string]any{"type": "int", "logicalType": "date"}, nil
	case schema.Time:
		return map[string]any{"type": "long", "logicalType": "time-micros"}, nil
	case schema.Timestamp:
		return map[string]any{"type": "long", "logicalType": "timestamp-micros"}, nil
	case schema.JSON:
		return map[string]any{"type": "string", jsonProp: "json"}, nil
	case schema.Array, schema.Map:
		if f.Items == nil {
			return nil, fmt.Errorf("%s without items", f.Type)
		}
		item, err := avroType(*f.Items, name+"_item")
		if err != nil {
			return nil, err
		}
		if f.Items.Optional {
			item = []any{"null", item}
		}
		if f.Type == schema.Array {
			return map[string]any{"type": "array", "items": item}, nil
		}
		return map[string]any{"type": "map", "values": item}, nil
	case schema.Struct:
		return avroRecord(name, f.Fields, name+"_")
	}
	return nil, fmt.Errorf("type %q has no Avro form", f.Type)
}

// avroToStructured maps an Avro schema onto Braid's data model.
func avroToStructured(s avro.Schema) *schema.Schema {
	out := &schema.Schema{}
	rec, ok := derefAvro(s).(*avro.RecordSchema)
	if !ok {
		f := avroField("value", s, map[string]bool{})
		out.Fields = []schema.Field{f}
		return out
	}
	out.Name = rec.Name()
	for _, f := range rec.Fields() {
		sf := avroField(f.Name(), f.Type(), map[string]bool{rec.FullName(): true})
		sf.Doc = f.Doc()
		out.Fields = append(out.Fields, sf)
	}
	return out
}

func derefAvro(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

func avroField(name string, s avro.Schema, seen map[string]bool) schema.Field {
	f := schema.Field{Name: name}
	s = derefAvro(s)
	switch x := s.(type) {
	case *avro.UnionSchema:
		if x.Nullable() {
			_, typ := x.Indices()
			f = avroField(name, x.Types()[typ], seen)
			f.Optional = true
			return f
		}
		f.Type = schema.JSON
	case *avro.RecordSchema:
		if seen[x.FullName()] {
			f.Type = schema.JSON // recursive: no fixed shape
			return f
		}
		seen[x.FullName()] = true
		defer delete(seen, x.FullName())
		f.Type = schema.Struct
		for _, rf := range x.Fields() {
			f.Fields = append(f.Fields, avroField(rf.Name(), rf.Type(), seen))
		}
	case *avro.ArraySchema:
		item := avroField("item", x.Items(), seen)
		f.Type, f.Items = schema.Array, &item
	case *avro.MapSchema:
		item := avroField("value", x.Values(), seen)
		f.Type, f.Items = schema.Map, &item
	case *avro.EnumSchema:
		f.Type = schema.String
	case *avro.FixedSchema:
		f.Type, f.Length = schema.Bytes, x.Size()
		if d, ok := x.Logical().(*avro.DecimalLogicalSchema); ok {
			f.Type, f.Precision, f.Scale, f.Length = schema.DecimalT, d.Precision(), d.Scale(), 0
		}
	case *avro.PrimitiveSchema:
		avroPrimitiveField(&f, x)
	default:
		f.Type = schema.JSON
	}
	return f
}

func avroPrimitiveField(f *schema.Field, p *avro.PrimitiveSchema) {
	if l := p.Logical(); l != nil {
		switch l.Type() {
		case avro.Decimal:
			d := l.(*avro.DecimalLogicalSchema)
			f.Type, f.Precision, f.Scale = schema.DecimalT, d.Precision(), d.Scale()
			return
		case avro.Date:
			f.Type = schema.Date
			return
		case avro.TimeMillis, avro.TimeMicros:
			f.Type = schema.Time
			return
		case avro.TimestampMillis, avro.TimestampMicros, avro.LocalTimestampMillis, avro.LocalTimestampMicros:
			f.Type = schema.Timestamp
			return
		}
	}
	switch p.Type() {
	case avro.Boolean:
		f.Type = schema.Boolean
	case avro.Int:
		f.Type = schema.Int32
	case avro.Long:
		f.Type = schema.Int64
	case avro.Float:
		f.Type = schema.Float32
	case avro.Double:
		f.Type = schema.Float64
	case avro.Bytes:
		f.Type = schema.Bytes
	case avro.String:
		f.Type = schema.String
		if p.Prop(jsonProp) == "json" {
			f.Type = schema.JSON
		}
	default:
		f.Type = schema.JSON // null
	}
}
