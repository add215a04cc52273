package convert

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
)

// InferSchema describes one decoded object: fields sorted by name, nested
// objects as structs, lists by the type of their elements. A null gives an
// optional field of type json (its type cannot be known from one value), as
// does a list whose elements differ in type. A field with an empty name,
// valid in JSON, cannot be described and is an error.
func InferSchema(name string, value map[string]any) (*schema.Schema, error) {
	if err := checkNames(value); err != nil {
		return nil, fmt.Errorf("cannot infer a schema: %w", err)
	}
	return &schema.Schema{Name: name, Fields: inferFields(value)}, nil
}

func checkNames(v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "" {
				return errors.New("a field name is empty")
			}
			if err := checkNames(e); err != nil {
				return fmt.Errorf("field %q: %w", k, err)
			}
		}
	case []any:
		for i, e := range x {
			if err := checkNames(e); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
	}
	return nil
}

func inferFields(m map[string]any) []schema.Field {
	fields := make([]schema.Field, 0, len(m))
	for k, v := range m {
		f := inferField(v)
		f.Name = k
		fields = append(fields, f)
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	return fields
}

func inferField(v any) schema.Field {
	switch x := v.(type) {
	case nil:
		return schema.Field{Type: schema.JSON, Optional: true}
	case bool:
		return schema.Field{Type: schema.Boolean}
	case int64, int, int32:
		return schema.Field{Type: schema.Int64}
	case float64, float32:
		return schema.Field{Type: schema.Float64}
	case schema.Decimal:
		p, s := decimalShape(string(x))
		return schema.Field{Type: schema.DecimalT, Precision: p, Scale: s}
	case string:
		return schema.Field{Type: schema.String}
	case []byte:
		return schema.Field{Type: schema.Bytes}
	case time.Time:
		return schema.Field{Type: schema.Timestamp}
	case map[string]any:
		return schema.Field{Type: schema.Struct, Fields: inferFields(x)}
	case []any:
		return schema.Field{Type: schema.Array, Items: inferItems(x)}
	}
	return schema.Field{Type: schema.JSON}
}

// inferItems finds the one element type of a list: numbers of one kind,
// decimals widened to fit all, structs by their first element; json when
// the elements differ.
func inferItems(list []any) *schema.Field {
	var item *schema.Field
	optional := false
	for _, e := range list {
		if e == nil {
			optional = true
			continue
		}
		f := inferField(e)
		switch {
		case item == nil:
			item = &f
		case f.Type != item.Type:
			return &schema.Field{Type: schema.JSON, Optional: true}
		case f.Type == schema.DecimalT:
			ints := max(item.Precision-item.Scale, f.Precision-f.Scale)
			item.Scale = max(item.Scale, f.Scale)
			item.Precision = ints + item.Scale
		}
	}
	if item == nil {
		return &schema.Field{Type: schema.JSON, Optional: true}
	}
	item.Optional = optional
	return item
}

// decimalShape returns the precision and scale of a decimal literal.
func decimalShape(s string) (precision, scale int) {
	s = strings.TrimLeft(s, "+-")
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	return max(len(intPart)+len(frac), 1), len(frac)
}
