package parquetenc

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
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
	index int      // leaf column index
	def   int      // definition level of a present value
	null  pq.Value // the column's null, levels set
	fast  fastKind // the common Go type handled inline in appendRow
	conv  convert
}

// fastKind names the one Go type a column's decoder normally produces, so
// appendRow converts it without an indirect call; other types go through the
// column's convert.
type fastKind uint8

const (
	fastNone fastKind = iota
	fastInt64
	fastDouble
	fastBytes
	fastTimestamp
	fastBool
)

func fastFor(t schema.Type) fastKind {
	switch t {
	case schema.Int64:
		return fastInt64
	case schema.Float64:
		return fastDouble
	case schema.String, schema.Bytes:
		return fastBytes
	case schema.Timestamp:
		return fastTimestamp
	case schema.Boolean:
		return fastBool
	}
	return fastNone
}

// Layout is the shape of one file: its columns and the Parquet schema.
type Layout struct {
	cols   []column
	index  map[string]int
	schema *pq.Schema
	source *schema.Schema // the record schema it came from; nil when inferred
}

// NewLayout builds the layout of fields; src is the record schema they come
// from (nil when inferred).
func NewLayout(fields []schema.Field, src *schema.Schema) (*Layout, error) {
	sorted := append([]schema.Field(nil), fields...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	l := &Layout{index: make(map[string]int, len(sorted)), source: src}
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
		c := column{field: f, index: i, null: pq.NullValue().Level(0, 0, i), fast: fastFor(f.Type), conv: converterFor(f)}
		if f.Optional {
			c.def = 1
		}
		l.cols = append(l.cols, c)
		l.index[f.Name] = i
	}
	if len(group) == 0 {
		return nil, errors.New("record has no fields to write as columns")
	}
	l.schema = pq.NewSchema("record", group)
	return l, nil
}

// Schema is the layout's Parquet schema.
func (l *Layout) Schema() *pq.Schema { return l.schema }

// For returns the layout a record (its schema, nil when it has none, and
// its fields m) needs: prev when it fits, else a new one — from the
// record's schema, or inferred from m and widened by prev's columns, so a
// schemaless stream whose records gain a field starts a file with every
// column seen so far.
func For(prev *Layout, rs *schema.Schema, m map[string]any) (*Layout, error) {
	if rs != nil {
		if prev != nil && (prev.source == rs || (prev.source != nil && reflect.DeepEqual(prev.source.Fields, rs.Fields))) {
			return prev, nil
		}
		return NewLayout(rs.Fields, rs)
	}
	if prev != nil && prev.source == nil {
		fits := true
		for k := range m {
			if _, ok := prev.index[k]; !ok {
				fits = false
				break
			}
		}
		if fits {
			return prev, nil
		}
		fields := Infer(m)
		for _, c := range prev.cols {
			if _, ok := m[c.field.Name]; !ok {
				fields = append(fields, c.field)
			}
		}
		return NewLayout(fields, nil)
	}
	return NewLayout(Infer(m), nil)
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

// Infer derives columns from structured fields: every column is optional,
// JSON numbers become DOUBLE, nested values JSON.
func Infer(m map[string]any) []schema.Field {
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

// AppendRow appends the record's values, one per column in column order,
// and says about how many bytes they hold. The Go type a decoder normally
// produces for a column is converted inline; anything else goes through the
// converter chosen when the layout was built. Levels are set in place
// because Value.Level does not inline.
func (l *Layout) AppendRow(row pq.Row, m map[string]any) (pq.Row, int64, error) {
	size := int64(8 * len(l.cols))
	row = slices.Grow(row, len(l.cols))
	for i := range l.cols {
		c := &l.cols[i]
		var pv pq.Value
		ok := false
		v := m[c.field.Name]
		switch x := v.(type) {
		case nil:
			if !c.field.Optional {
				return row, 0, fmt.Errorf("field %q: required but missing", c.field.Name)
			}
			row = append(row, c.null)
			continue
		case int64:
			pv, ok = pq.Int64Value(x), c.fast == fastInt64
		case float64:
			pv, ok = pq.DoubleValue(x), c.fast == fastDouble
		case string:
			pv, ok = pq.ByteArrayValue(unsafe.Slice(unsafe.StringData(x), len(x))), c.fast == fastBytes
			size += int64(len(x))
		case time.Time:
			pv, ok = pq.Int64Value(x.UnixMicro()), c.fast == fastTimestamp
		case bool:
			pv, ok = pq.BooleanValue(x), c.fast == fastBool
		}
		if !ok {
			var err error
			if pv, err = c.conv(v); err != nil {
				return row, 0, fmt.Errorf("field %q: %w", c.field.Name, err)
			}
			if k := pv.Kind(); k == pq.ByteArray || k == pq.FixedLenByteArray {
				size += int64(len(pv.ByteArray()))
			}
		}
		row = append(row, pv)
		last := &row[len(row)-1]
		last.SetDefinitionLevel(c.def)
		last.SetColumnIndex(c.index)
	}
	return row, size, nil
}
