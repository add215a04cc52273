package parquetenc

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"

	"github.com/braidhq/braid/schema"
)

// convert turns one non-nil value into the Parquet value of its column.
type convert func(v any) (pq.Value, error)

// converterFor picks a column's converter once per layout. Each tries the
// type a decoder normally produces first and falls back to the lenient
// conversions (numbers as strings, times as text or epoch milliseconds).
func converterFor(f schema.Field) convert {
	switch f.Type {
	case schema.Boolean:
		return func(v any) (pq.Value, error) {
			if b, ok := v.(bool); ok {
				return pq.BooleanValue(b), nil
			}
			return pq.Value{}, fmt.Errorf("%T %v is not a boolean", v, v)
		}
	case schema.Int32:
		return func(v any) (pq.Value, error) {
			if n, ok := v.(int32); ok {
				return pq.Int32Value(n), nil
			}
			n, err := toInt(v)
			if err != nil {
				return pq.Value{}, err
			}
			if n < math.MinInt32 || n > math.MaxInt32 {
				return pq.Value{}, fmt.Errorf("%d does not fit int32", n)
			}
			return pq.Int32Value(int32(n)), nil
		}
	case schema.Int64:
		return func(v any) (pq.Value, error) {
			if n, ok := v.(int64); ok {
				return pq.Int64Value(n), nil
			}
			n, err := toInt(v)
			return pq.Int64Value(n), err
		}
	case schema.Float32:
		return func(v any) (pq.Value, error) {
			if x, ok := v.(float32); ok {
				return pq.FloatValue(x), nil
			}
			x, err := toFloat(v)
			return pq.FloatValue(float32(x)), err
		}
	case schema.Float64:
		return func(v any) (pq.Value, error) {
			if x, ok := v.(float64); ok {
				return pq.DoubleValue(x), nil
			}
			x, err := toFloat(v)
			return pq.DoubleValue(x), err
		}
	case schema.String, schema.Bytes:
		return func(v any) (pq.Value, error) {
			if s, ok := v.(string); ok {
				return pq.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))), nil
			}
			return pq.ByteArrayValue(toBytes(v)), nil
		}
	case schema.DecimalT:
		return func(v any) (pq.Value, error) { return decimalValue(f, v) }
	case schema.Date:
		return func(v any) (pq.Value, error) {
			t, err := ToTime(v)
			return pq.Int32Value(int32(t.Unix() / 86400)), err
		}
	case schema.Time:
		return timeOfDay
	case schema.Timestamp:
		return func(v any) (pq.Value, error) {
			if t, ok := v.(time.Time); ok {
				return pq.Int64Value(t.UnixMicro()), nil
			}
			t, err := ToTime(v)
			return pq.Int64Value(t.UnixMicro()), err
		}
	}
	return func(v any) (pq.Value, error) { // JSON and nested types
		b, err := json.Marshal(v)
		return pq.ByteArrayValue(b), err
	}
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

// ToTime accepts time.Time, RFC 3339 (or date-only) strings and epoch
// milliseconds.
func ToTime(v any) (time.Time, error) {
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
