package jdbc

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
)

// fieldFor maps a result column to a schema field. dbType is the driver's
// DatabaseTypeName (upper case, e.g. "BIGINT", "UNSIGNED BIGINT", "INT8",
// "NUMERIC", "TIMESTAMPTZ").
func fieldFor(ct *sql.ColumnType) schema.Field {
	f := schema.Field{Name: ct.Name(), Optional: true}
	if n, ok := ct.Nullable(); ok {
		f.Optional = n
	}
	t := strings.ToUpper(ct.DatabaseTypeName())
	switch t {
	case "BOOL", "BOOLEAN", "BIT":
		f.Type = schema.Boolean
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "INT2", "INT4", "YEAR",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT":
		f.Type = schema.Int32
	case "BIGINT", "INT8", "UNSIGNED INT", "OID":
		f.Type = schema.Int64
	case "UNSIGNED BIGINT":
		f.Type, f.Precision = schema.DecimalT, 20
	case "FLOAT", "FLOAT4", "REAL":
		f.Type = schema.Float32
	case "DOUBLE", "FLOAT8", "DOUBLE PRECISION":
		f.Type = schema.Float64
	case "DECIMAL", "NUMERIC":
		f.Type = schema.DecimalT
		if p, s, ok := ct.DecimalSize(); ok {
			f.Precision, f.Scale = int(p), int(s)
		}
	case "DATE":
		f.Type = schema.Date
	case "TIME", "TIMETZ":
		f.Type = schema.Time
	case "DATETIME", "TIMESTAMP", "TIMESTAMPTZ":
		f.Type = schema.Timestamp
	case "JSON", "JSONB":
		f.Type = schema.JSON
	case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BYTEA", "GEOMETRY":
		f.Type = schema.Bytes
		if n, ok := ct.Length(); ok && n > 0 && n < 1<<31-1 {
			f.Length = int(n)
		}
	default: // CHAR, VARCHAR, TEXT, ENUM, SET, UUID, INTERVAL, arrays, ...
		f.Type = schema.String
		if n, ok := ct.Length(); ok && n > 0 && n < 1<<31-1 && strings.Contains(t, "CHAR") {
			f.Length = int(n)
		}
	}
	return f
}

// normalize turns a scanned driver value into the Go value the schema type
// promises: int64/int32 for integers, schema.Decimal for decimals, UTC
// time.Time for dates and timestamps, decoded JSON for JSON, []byte for bytes.
func normalize(f *schema.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var out any
	var ok bool
	var err error
	switch f.Type {
	case schema.Boolean:
		out, ok, err = toBool(v)
	case schema.Int32:
		n, err := toInt64(v)
		return int32(n), err
	case schema.Int64:
		return toInt64(v)
	case schema.Float32, schema.Float64:
		out, ok, err = toFloat(v)
	case schema.DecimalT:
		out, ok = toDecimal(v)
	case schema.Date, schema.Timestamp:
		out, ok, err = toTime(v, f.Type == schema.Date)
	case schema.JSON:
		return toJSON(v)
	case schema.Bytes:
		switch x := v.(type) {
		case []byte:
			return append([]byte{}, x...), nil // empty, not NULL
		case string:
			return []byte(x), nil
		}
	case schema.Time:
		return toText(v), nil
	default:
		if t, isTime := v.(time.Time); isTime {
			return t.UTC().Format(time.RFC3339Nano), nil
		}
		return toText(v), nil
	}
	if err != nil || ok {
		return out, err
	}
	return nil, fmt.Errorf("cannot read %T as %s", v, f.Type)
}

func toBool(v any) (any, bool, error) {
	switch x := v.(type) {
	case bool:
		return x, true, nil
	case int64:
		return x != 0, true, nil
	case []byte:
		if len(x) == 1 && x[0] <= 1 { // BIT(1)
			return x[0] == 1, true, nil
		}
		b, err := strconv.ParseBool(string(x))
		return b, true, err
	}
	return nil, false, nil
}

func toFloat(v any) (any, bool, error) {
	switch x := v.(type) {
	case float64:
		return x, true, nil
	case float32:
		return float64(x), true, nil
	case int64:
		return float64(x), true, nil
	case []byte:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, true, err
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, true, err
	}
	return nil, false, nil
}

func toDecimal(v any) (any, bool) {
	switch x := v.(type) {
	case []byte:
		return schema.Decimal(x), true
	case string:
		return schema.Decimal(x), true
	case int64, uint64:
		return schema.Decimal(fmt.Sprint(x)), true
	}
	return nil, false
}

func toTime(v any, date bool) (any, bool, error) {
	switch x := v.(type) {
	case time.Time:
		if date {
			y, m, d := x.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true, nil
		}
		return x.UTC(), true, nil
	case []byte, string:
		return nil, true, fmt.Errorf("zero or invalid date %q", x)
	}
	return nil, false, nil
}

func toJSON(v any) (any, error) {
	var raw []byte
	switch x := v.(type) {
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		return x, nil
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return out, nil
}

// toText reads strings, TIME values and anything else as text.
func toText(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case time.Time:
		return x.Format("15:04:05.999999")
	default:
		return fmt.Sprint(x)
	}
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case uint64:
		if x > 1<<63-1 {
			return 0, fmt.Errorf("%d overflows int64", x)
		}
		return int64(x), nil
	case []byte:
		return strconv.ParseInt(string(x), 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		if x == float64(int64(x)) {
			return int64(x), nil
		}
		return 0, fmt.Errorf("%v is not a whole number", x)
	case json.Number:
		return x.Int64()
	}
	return 0, fmt.Errorf("cannot read %T as an integer", v)
}

// sqlType returns the column type for a schema field in a CREATE TABLE or
// ALTER TABLE ADD COLUMN; key columns get bounded types MySQL can index.
func (d Dialect) sqlType(f schema.Field, key bool) string {
	my := d == MySQL
	switch f.Type {
	case schema.Boolean:
		return "BOOLEAN"
	case schema.Int32:
		return pick(my, "INT", "integer")
	case schema.Int64:
		return pick(my, "BIGINT", "bigint")
	case schema.Float32:
		return pick(my, "FLOAT", "real")
	case schema.Float64:
		return pick(my, "DOUBLE", "double precision")
	case schema.DecimalT:
		p, s := f.Precision, f.Scale
		if p <= 0 {
			if my {
				return "DECIMAL(65,30)"
			}
			return "numeric"
		}
		if my && p > 65 {
			p = 65
		}
		if s > p {
			s = p
		}
		return fmt.Sprintf(pick(my, "DECIMAL(%d,%d)", "numeric(%d,%d)"), p, s)
	case schema.Date:
		return pick(my, "DATE", "date")
	case schema.Time:
		return pick(my, "TIME(6)", "time")
	case schema.Timestamp:
		return pick(my, "DATETIME(6)", "timestamptz")
	case schema.Bytes:
		if !my {
			return "bytea"
		}
		if key || (f.Length > 0 && f.Length <= 255) {
			return fmt.Sprintf("VARBINARY(%d)", lengthOr(f.Length, 255))
		}
		return "LONGBLOB"
	case schema.JSON, schema.Array, schema.Map, schema.Struct:
		return pick(my, "JSON", "jsonb")
	default:
		if key || (f.Length > 0 && f.Length <= 16383) {
			return fmt.Sprintf(pick(my, "VARCHAR(%d)", "varchar(%d)"), lengthOr(f.Length, 255))
		}
		return pick(my, "LONGTEXT", "text")
	}
}

func pick(mysql bool, a, b string) string {
	if mysql {
		return a
	}
	return b
}

func lengthOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// inferField guesses a schema field from a Go value when a record carries no
// schema (JSON-decoded values: float64 numbers that are whole become int64).
func inferField(name string, v any) schema.Field {
	f := schema.Field{Name: name, Optional: true}
	switch x := v.(type) {
	case bool:
		f.Type = schema.Boolean
	case int, int8, int16, int32, int64, uint8, uint16, uint32:
		f.Type = schema.Int64
	case uint, uint64:
		f.Type, f.Precision = schema.DecimalT, 20
	case float32, float64:
		f.Type = schema.Float64
		if fl, _ := x.(float64); fl == float64(int64(fl)) {
			f.Type = schema.Int64
		}
	case json.Number:
		f.Type = schema.Float64
		if _, err := x.Int64(); err == nil {
			f.Type = schema.Int64
		}
	case schema.Decimal:
		f.Type = schema.DecimalT
	case time.Time:
		f.Type = schema.Timestamp
	case []byte:
		f.Type = schema.Bytes
	case map[string]any, []any:
		f.Type = schema.JSON
	default:
		f.Type = schema.String
	}
	return f
}
