package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// The types cast converts to, by their names in pipeline files.
var castTypes = map[string]schema.Type{
	"int64":   schema.Int64,
	"float64": schema.Float64,
	"string":  schema.String,
	"boolean": schema.Boolean,
	"decimal": schema.DecimalT,
}

var castEntry = entry{
	spec: sdk.Spec{
		Name: "cast", Kind: sdk.KindTransform,
		Summary: "Converts fields to another type.",
		Doc: "Target types: int64, float64, string, boolean, decimal. Null stays null; a value that cannot be " +
			"converted (\"abc\" to int64, 2.5 to int64) is a record error naming the field.",
		Fields: []sdk.Field{{Name: "fields", Type: sdk.TypeMap, Required: true,
			Doc: "Map of field name to target type.", Example: "{ amount: decimal, qty: int64 }",
			Check: func(v any) error {
				for f, typ := range v.(map[string]string) {
					if _, ok := castTypes[typ]; !ok {
						return fmt.Errorf("field %q: type must be one of int64, float64, string, boolean, decimal, not %q", f, typ)
					}
				}
				return nil
			}}},
	},
	build: func(cfg sdk.Config) (Transform, error) {
		m := cfg.Map("fields")
		if len(m) == 0 {
			return nil, configError("cast", "fields", "must name at least one field")
		}
		t := make(cast, 0, len(m))
		for f, typ := range m {
			t = append(t, castField{name: f, to: castTypes[typ]})
		}
		sort.Slice(t, func(i, j int) bool { return t[i].name < t[j].name })
		return t, nil
	},
}

type castField struct {
	name string
	to   schema.Type
}

type cast []castField

func (t cast) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	m, ok, err := fieldsOf("cast", rec)
	if !ok {
		return err == nil, err
	}
	done := false
	for _, f := range t {
		v, ok := m[f.name]
		if !ok || v == nil {
			continue
		}
		out, err := convertTo(v, f.to)
		if err != nil {
			return false, recordError("cast", rec, fmt.Errorf("field %q: %w", f.name, err))
		}
		m[f.name] = out
		done = true
	}
	if !done {
		return true, nil
	}
	changed(rec)
	editSchema(rec, func(s *schema.Schema) {
		for _, f := range t {
			if i := schemaIndex(s, f.name); i >= 0 {
				old := s.Fields[i]
				s.Fields[i] = schema.Field{Name: old.Name, Type: f.to, Optional: old.Optional, Doc: old.Doc}
			}
		}
	})
	return true, nil
}

// convertTo converts a plain Go value to the Go type of a schema type.
func convertTo(v any, to schema.Type) (any, error) {
	switch to {
	case schema.String:
		return toText(v), nil
	case schema.Int64:
		return toInt(v)
	case schema.Float64:
		return toFloat(v)
	case schema.Boolean:
		return toBool(v)
	case schema.DecimalT:
		return toDecimal(v)
	}
	return nil, fmt.Errorf("cannot cast to %s", to)
}

func toInt(v any) (any, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), nil
		}
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case string, schema.Decimal, json.Number:
		s := strings.TrimSpace(toText(x))
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if whole, ok := strings.CutSuffix(strings.TrimRight(s, "0"), "."); ok {
			if n, err := strconv.ParseInt(whole, 10, 64); err == nil {
				return n, nil
			}
		}
	}
	return nil, fmt.Errorf("cannot cast %s to int64", describe(v))
}

func toFloat(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case bool:
		if x {
			return 1.0, nil
		}
		return 0.0, nil
	case string, schema.Decimal, json.Number:
		if f, err := strconv.ParseFloat(strings.TrimSpace(toText(x)), 64); err == nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("cannot cast %s to float64", describe(v))
}

func toBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	case int:
		return x != 0, nil
	case float64:
		return x != 0, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "yes", "y", "1", "on":
			return true, nil
		case "false", "f", "no", "n", "0", "off":
			return false, nil
		}
	}
	return nil, fmt.Errorf("cannot cast %s to boolean", describe(v))
}

func toDecimal(v any) (any, error) {
	switch x := v.(type) {
	case schema.Decimal:
		return x, nil
	case int64, int, int32:
		return schema.Decimal(toText(x)), nil
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return schema.Decimal(strconv.FormatFloat(x, 'f', -1, 64)), nil
		}
	case string, json.Number:
		s := strings.TrimPrefix(strings.TrimSpace(toText(x)), "+")
		if isDecimal(s) {
			return schema.Decimal(s), nil
		}
	}
	return nil, fmt.Errorf("cannot cast %s to decimal", describe(v))
}

// isDecimal reports whether s is [-]digits[.digits].
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasPoint := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasPoint || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// toText renders a plain Go value as text: strings as they are, numbers in
// decimal without exponent, times in RFC 3339, maps and lists as JSON.
func toText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case schema.Decimal:
		return string(x)
	case json.Number:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}
