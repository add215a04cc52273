package serde

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/registry"
	"github.com/hamba/avro/v2"
)

// jsonProp marks an Avro string that carries a JSON document.
const jsonProp = "braid.type"

type avroFormat struct{}

func (avroFormat) name() string                    { return "avro" }
func (avroFormat) registryFormat() registry.Format { return registry.Avro }

func (avroFormat) compile(p registry.Parsed) (codec, error) {
	s, ok := registry.AvroSchema(p)
	if !ok {
		return nil, fmt.Errorf("not an Avro schema")
	}
	c := &avroCodec{schema: s, enc: avroEncoder(s), dec: avroDecoder(s), fast: compileFast(s)}
	c.st = avroToStructured(s)
	if n, ok := s.(avro.NamedSchema); ok {
		c.name = n.FullName()
	}
	return c, nil
}

type avroCodec struct {
	schema   avro.Schema
	enc, dec conv        // nil when values pass unchanged
	fast     *fastRecord // nil unless the record is flat
	st       *schema.Schema
	name     string
}

func (c *avroCodec) structured() *schema.Schema {
	cp := *c.st
	return &cp
}

func (c *avroCodec) recordName() string { return c.name }

func (c *avroCodec) decode(payload []byte) (map[string]any, error) {
	if c.fast != nil {
		return c.fast.decode(payload)
	}
	var v any
	if err := avro.Unmarshal(c.schema, payload, &v); err != nil {
		return nil, err
	}
	if c.dec != nil {
		var err error
		if v, err = c.dec(v); err != nil {
			return nil, err
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{"value": v}, nil
	}
	return m, nil
}

func (c *avroCodec) encode(dst []byte, v map[string]any) ([]byte, error) {
	if c.fast != nil {
		out, err := c.fast.encode(dst, v)
		if !errors.Is(err, errFallback) {
			return out, err
		}
	}
	var in any = v
	if c.enc != nil {
		var err error
		if in, err = c.enc(in); err != nil {
			return nil, err
		}
	}
	b, err := avro.Marshal(c.schema, in)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

// conv converts one value; a nil conv means identity.
type conv func(any) (any, error)

// avroEncoder builds the conversion from Braid values to what hamba/avro
// encodes; nil when the schema needs none.
func avroEncoder(s avro.Schema) conv { return avroConv(s, true, map[string]bool{}) }

// avroDecoder builds the conversion from hamba/avro's decoded values to
// Braid's (int64, float64, Decimal, ...).
func avroDecoder(s avro.Schema) conv { return avroConv(s, false, map[string]bool{}) }

func avroConv(s avro.Schema, enc bool, seen map[string]bool) conv {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch x := s.(type) {
	case *avro.RecordSchema:
		if seen[x.FullName()] {
			return nil // recursive records are passed as they are
		}
		seen[x.FullName()] = true
		defer delete(seen, x.FullName())
		return recordConv(x, enc, seen)
	case *avro.ArraySchema:
		if item := avroConv(x.Items(), enc, seen); item != nil {
			return func(v any) (any, error) { return convSlice(v, item) }
		}
	case *avro.MapSchema:
		if val := avroConv(x.Values(), enc, seen); val != nil {
			return func(v any) (any, error) { return convMap(v, val) }
		}
	case *avro.UnionSchema:
		if x.Nullable() {
			_, typ := x.Indices()
			branch := x.Types()[typ]
			if inner := avroConv(branch, enc, seen); inner != nil {
				return func(v any) (any, error) {
					if v == nil {
						return nil, nil
					}
					return inner(v)
				}
			}
		}
	case *avro.PrimitiveSchema:
		return primitiveConv(x, enc)
	}
	return nil
}

func recordConv(r *avro.RecordSchema, enc bool, seen map[string]bool) conv {
	fields := r.Fields()
	convs := make([]conv, len(fields))
	needed := false
	for i, f := range fields {
		convs[i] = avroConv(f.Type(), enc, seen)
		needed = needed || convs[i] != nil
	}
	if !needed {
		return nil
	}
	return func(v any) (any, error) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record %s: want an object, got %T", r.FullName(), v)
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = x
		}
		for i, f := range fields {
			x, ok := m[f.Name()]
			if convs[i] == nil || !ok {
				continue
			}
			y, err := convs[i](x)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name(), err)
			}
			out[f.Name()] = y
		}
		return out, nil
	}
}

func convSlice(v any, item conv) (any, error) {
	a, ok := v.([]any)
	if !ok {
		return v, nil
	}
	out := make([]any, len(a))
	for i, x := range a {
		y, err := item(x)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = y
	}
	return out, nil
}

func convMap(v any, val conv) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		y, err := val(x)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		out[k] = y
	}
	return out, nil
}

func primitiveConv(p *avro.PrimitiveSchema, enc bool) conv {
	lt := ""
	if l := p.Logical(); l != nil {
		lt = string(l.Type())
	}
	if enc {
		return primitiveEncoder(p, lt)
	}
	return primitiveDecoder(p, lt)
}

// primitiveEncoder converts Braid values to hamba/avro's for one primitive.
func primitiveEncoder(p *avro.PrimitiveSchema, lt string) conv {
	switch {
	case p.Type() == avro.String && p.Prop(jsonProp) == "json":
		return func(v any) (any, error) {
			if s, ok := v.(string); ok {
				return s, nil
			}
			b, err := json.Marshal(v)
			return string(b), err
		}
	case lt == string(avro.Decimal):
		return func(v any) (any, error) { return toRat(v) }
	case lt == string(avro.TimeMicros) || lt == string(avro.TimeMillis):
		return func(v any) (any, error) { return toTimeOfDay(v) }
	case lt != "":
		return nil // date and timestamps take time.Time as they are
	case p.Type() == avro.Int:
		return func(v any) (any, error) {
			n, err := toInt64(v)
			if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
				return nil, fmt.Errorf("want a 32-bit integer, got %v", v)
			}
			return int(n), nil
		}
	case p.Type() == avro.Long:
		return func(v any) (any, error) {
			if n, ok := v.(int64); ok {
				return n, nil
			}
			return toInt64(v)
		}
	case p.Type() == avro.Float:
		return func(v any) (any, error) {
			f, err := toFloat64(v)
			return float32(f), err
		}
	case p.Type() == avro.Double:
		return func(v any) (any, error) {
			if f, ok := v.(float64); ok {
				return f, nil
			}
			return toFloat64(v)
		}
	}
	return nil
}

// primitiveDecoder converts hamba/avro's decoded values to Braid's.
func primitiveDecoder(p *avro.PrimitiveSchema, lt string) conv {
	switch {
	case p.Type() == avro.String && p.Prop(jsonProp) == "json":
		return func(v any) (any, error) {
			var out any
			err := json.Unmarshal([]byte(v.(string)), &out)
			return out, err
		}
	case lt == string(avro.Decimal):
		scale := p.Logical().(*avro.DecimalLogicalSchema).Scale()
		return func(v any) (any, error) {
			if r, ok := v.(*big.Rat); ok {
				return schema.Decimal(r.FloatString(scale)), nil
			}
			return v, nil
		}
	case lt == string(avro.TimeMicros) || lt == string(avro.TimeMillis):
		return func(v any) (any, error) {
			if d, ok := v.(time.Duration); ok {
				return time.Time{}.Add(d).Format("15:04:05.999999"), nil
			}
			return v, nil
		}
	case lt != "":
		return nil
	case p.Type() == avro.Int:
		return func(v any) (any, error) {
			if n, ok := v.(int); ok {
				return int64(n), nil
			}
			return v, nil
		}
	case p.Type() == avro.Float:
		return func(v any) (any, error) {
			if f, ok := v.(float32); ok {
				return float64(f), nil
			}
			return v, nil
		}
	}
	return nil
}

func toInt64(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<63 {
			return int64(n), nil
		}
	case json.Number:
		return n.Int64()
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

func toFloat64(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case int:
		return float64(n), nil
	case json.Number:
		return n.Float64()
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

func toRat(v any) (*big.Rat, error) {
	var s string
	switch d := v.(type) {
	case *big.Rat:
		return d, nil
	case schema.Decimal:
		s = string(d)
	case string:
		s = d
	case json.Number:
		s = string(d)
	case float64, int64, int:
		s = fmt.Sprint(d)
	default:
		return nil, fmt.Errorf("want a decimal, got %T", v)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal", s)
	}
	return r, nil
}

func toTimeOfDay(v any) (any, error) {
	switch t := v.(type) {
	case time.Duration:
		return t, nil
	case string:
		for _, layout := range []string{"15:04:05.999999999", "15:04"} {
			if p, err := time.Parse(layout, t); err == nil {
				return p.Sub(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)), nil
			}
		}
		return nil, fmt.Errorf("%q is not a time of day (15:04:05)", t)
	case time.Time:
		y, m, d := t.Date()
		return t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location())), nil
	}
	return nil, fmt.Errorf("want a time of day, got %T", v)
}

// avroName turns a Braid name into a valid Avro name.
func avroName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "Record"
	}
	return b.String()
}
