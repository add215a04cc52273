package parquet

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"

	"github.com/braidhq/braid/schema"
)

// column is one top-level field of a file's schema. Parquet orders a group's
// columns by name, so columns are kept sorted and a column's index is its
// place in that order.
type column struct {
	field schema.Field
}

// layout is the shape of one file: its columns and the Parquet schema.
type layout struct {
	cols   []column
	index  map[string]int
	schema *pq.Schema
	source *schema.Schema // the record schema it came from; nil when inferred
}

func newLayout(fields []schema.Field, src *schema.Schema) (*layout, error) {
	sorted := append([]schema.Field(nil), fields...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	l := &layout{index: make(map[string]int, len(sorted)), source: src}
	group := pq.Group{}
	for i, f := range sorted {
		node, err := nodeFor(f)
		if err != nil {
			return nil, err
		}
		if f.Optional {
			node = pq.Optional(node)
		}
		group[f.Name] = node
		l.cols = append(l.cols, column{field: f})
		l.index[f.Name] = i
	}
	if len(group) == 0 {
		return nil, errors.New("record has no fields to write as columns")
	}
	l.schema = pq.NewSchema("record", group)
	return l, nil
}

// nodeFor maps a logical type to its Parquet type.
func nodeFor(f schema.Field) (pq.Node, error) {
	switch f.Type {
	case schema.Boolean:
		return pq.Leaf(pq.BooleanType), nil
	case schema.Int32:
		return pq.Int(32), nil
	case schema.Int64:
		return pq.Int(64), nil
	case schema.Float32:
		return pq.Leaf(pq.FloatType), nil
	case schema.Float64:
		return pq.Leaf(pq.DoubleType), nil
	case schema.String:
		return pq.String(), nil
	case schema.Bytes:
		return pq.Leaf(pq.ByteArrayType), nil
	case schema.DecimalT:
		p := decimalPrecision(f)
		if f.Scale < 0 || f.Scale > p {
			return nil, fmt.Errorf("field %q: decimal scale %d does not fit precision %d", f.Name, f.Scale, p)
		}
		switch {
		case p <= 9:
			return pq.Decimal(f.Scale, p, pq.Int32Type), nil
		case p <= 18:
			return pq.Decimal(f.Scale, p, pq.Int64Type), nil
		}
		return pq.Decimal(f.Scale, p, pq.FixedLenByteArrayType(decimalBytes(p))), nil
	case schema.Date:
		return pq.Date(), nil
	case schema.Time:
		return pq.Time(pq.Microsecond), nil
	case schema.Timestamp:
		return pq.Timestamp(pq.Microsecond), nil
	case schema.JSON, schema.Array, schema.Map, schema.Struct:
		return pq.JSON(), nil
	}
	return nil, fmt.Errorf("field %q: type %q has no Parquet mapping", f.Name, f.Type)
}

// decimalPrecision is the declared precision, 38 when unknown. Decimals of
// up to 9 digits are stored as INT32, up to 18 as INT64, longer ones as
// big-endian two's complement FIXED_LEN_BYTE_ARRAY, as the format prescribes.
func decimalPrecision(f schema.Field) int {
	if f.Precision <= 0 {
		return 38
	}
	return f.Precision
}

// infer derives columns from structured fields: every column is optional,
// JSON numbers become DOUBLE, nested values JSON.
func infer(m map[string]any) []schema.Field {
	out := make([]schema.Field, 0, len(m))
	for k, v := range m {
		t := schema.String
		switch x := v.(type) {
		case bool:
			t = schema.Boolean
		case int, int32, int64, uint32:
			t = schema.Int64
		case float32, float64:
			t = schema.Float64
		case json.Number:
			t = schema.Float64
			if _, err := x.Int64(); err == nil {
				t = schema.Int64
			}
		case time.Time:
			t = schema.Timestamp
		case []byte:
			t = schema.Bytes
		case schema.Decimal:
			t = schema.String
		case map[string]any, []any:
			t = schema.JSON
		}
		out = append(out, schema.Field{Name: k, Type: t, Optional: true})
	}
	return out
}

// appendRow appends the record's values, one per column in column order,
// and says about how many bytes they hold.
func (l *layout) appendRow(row pq.Row, m map[string]any) (pq.Row, int64, error) {
	size := int64(0)
	for i, c := range l.cols {
		v, ok := m[c.field.Name]
		if !ok || v == nil {
			if !c.field.Optional {
				return row, 0, fmt.Errorf("field %q: required but missing", c.field.Name)
			}
			row = append(row, pq.NullValue().Level(0, 0, i))
			continue
		}
		pv, err := toValue(c.field, v)
		if err != nil {
			return row, 0, fmt.Errorf("field %q: %w", c.field.Name, err)
		}
		size += 8
		if k := pv.Kind(); k == pq.ByteArray || k == pq.FixedLenByteArray {
			size += int64(len(pv.ByteArray()))
		}
		def := 0
		if c.field.Optional {
			def = 1
		}
		row = append(row, pv.Level(0, def, i))
	}
	return row, size, nil
}

func toValue(f schema.Field, v any) (pq.Value, error) {
	switch f.Type {
	case schema.Boolean:
		if b, ok := v.(bool); ok {
			return pq.BooleanValue(b), nil
		}
	case schema.Int32, schema.Int64:
		n, err := toInt(v)
		if err != nil {
			return pq.Value{}, err
		}
		if f.Type == schema.Int32 {
			if n < math.MinInt32 || n > math.MaxInt32 {
				return pq.Value{}, fmt.Errorf("%d does not fit int32", n)
			}
			return pq.Int32Value(int32(n)), nil
		}
		return pq.Int64Value(n), nil
	case schema.Float32, schema.Float64:
		x, err := toFloat(v)
		if err != nil {
			return pq.Value{}, err
		}
		if f.Type == schema.Float32 {
			return pq.FloatValue(float32(x)), nil
		}
		return pq.DoubleValue(x), nil
	case schema.String:
		return pq.ByteArrayValue(toBytes(v)), nil
	case schema.Bytes:
		return pq.ByteArrayValue(toBytes(v)), nil
	case schema.DecimalT:
		return decimalValue(f, v)
	case schema.Date:
		t, err := toTime(v)
		if err != nil {
			return pq.Value{}, err
		}
		return pq.Int32Value(int32(t.Unix() / 86400)), nil
	case schema.Time:
		return timeOfDay(v)
	case schema.Timestamp:
		t, err := toTime(v)
		if err != nil {
			return pq.Value{}, err
		}
		return pq.Int64Value(t.UnixMicro()), nil
	default: // JSON and nested types
		b, err := json.Marshal(v)
		if err != nil {
			return pq.Value{}, err
		}
		return pq.ByteArrayValue(b), nil
	}
	return pq.Value{}, fmt.Errorf("%T %v is not a %s", v, v, f.Type)
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint32:
		return int64(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x), nil
		}
	case json.Number:
		return x.Int64()
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("%T %v is not a whole number", v, v)
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case json.Number:
		return x.Float64()
	case string:
		return strconv.ParseFloat(x, 64)
	case schema.Decimal:
		return strconv.ParseFloat(string(x), 64)
	}
	return 0, fmt.Errorf("%T %v is not a number", v, v)
}

// toBytes views strings without copying: the writer copies values into its
// own buffers and never changes them.
func toBytes(v any) []byte {
	switch x := v.(type) {
	case string:
		return unsafe.Slice(unsafe.StringData(x), len(x))
	case []byte:
		return x
	case schema.Decimal:
		return []byte(x)
	case time.Time:
		return []byte(x.Format(time.RFC3339Nano))
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return b
	}
	return []byte(fmt.Sprint(v))
}

// toTime accepts time.Time, RFC 3339 (or date-only) strings and epoch
// milliseconds.
func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
	}
	if ms, err := toInt(v); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%T %v is not a time", v, v)
}

func timeOfDay(v any) (pq.Value, error) {
	s, ok := v.(string)
	if !ok {
		return pq.Value{}, fmt.Errorf("%T %v is not a time of day", v, v)
	}
	t, err := time.Parse("15:04:05.999999999", s)
	if err != nil {
		return pq.Value{}, fmt.Errorf("%q is not a time of day like 15:04:05", s)
	}
	d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
	return pq.Int64Value(d.Microseconds()), nil
}

// decimalValue stores a decimal as its unscaled integer.
func decimalValue(f schema.Field, v any) (pq.Value, error) {
	var s string
	switch x := v.(type) {
	case schema.Decimal:
		s = string(x)
	case string:
		s = x
	case float64, int, int64, json.Number:
		s = fmt.Sprint(x)
	default:
		return pq.Value{}, fmt.Errorf("%T %v is not a decimal", v, v)
	}
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return pq.Value{}, fmt.Errorf("%q is not a decimal", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(f.Scale)), nil)))
	if !r.IsInt() {
		return pq.Value{}, fmt.Errorf("%s has more than %d digits after the point", s, f.Scale)
	}
	u := r.Num()
	p := decimalPrecision(f)
	if len(strings.TrimLeft(u.String(), "-")) > p {
		return pq.Value{}, fmt.Errorf("%s has more than %d digits", s, p)
	}
	switch {
	case p <= 9:
		return pq.Int32Value(int32(u.Int64())), nil
	case p <= 18:
		return pq.Int64Value(u.Int64()), nil
	}
	return pq.FixedLenByteArrayValue(twosComplement(u, decimalBytes(p))), nil
}

// decimalBytes is the fixed length that holds any unscaled value of p digits.
func decimalBytes(p int) int {
	return int(math.Ceil((float64(p)*math.Log2(10) + 1) / 8))
}

// twosComplement renders n big-endian in size bytes.
func twosComplement(n *big.Int, size int) []byte {
	b := make([]byte, size)
	if n.Sign() >= 0 {
		n.FillBytes(b)
		return b
	}
	// -n = ^(|n|-1)
	m := new(big.Int).Sub(new(big.Int).Neg(n), big.NewInt(1))
	m.FillBytes(b)
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}
