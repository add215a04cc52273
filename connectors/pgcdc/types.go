package pgcdc

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
)

// PostgreSQL type OIDs the source maps to exact schema types; every other
// type (text, varchar, uuid, interval, inet, enums, arrays, ...) is read as
// its text form.
const (
	oidBool        = 16
	oidBytea       = 17
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidTimeTZ      = 1266
	oidNumeric     = 1700
	oidJSONB       = 3802
)

// column is one column of a captured table.
type column struct {
	name   string
	oid    uint32
	typmod int32
	typ    string // format_type, for casts in snapshot queries
	field  schema.Field
}

// fieldFor maps a column type to its schema field.
func fieldFor(name string, oid uint32, typmod int32, nullable bool) schema.Field {
	f := schema.Field{Name: name, Optional: nullable}
	switch oid {
	case oidBool:
		f.Type = schema.Boolean
	case oidInt2, oidInt4:
		f.Type = schema.Int32
	case oidInt8, oidOID:
		f.Type = schema.Int64
	case oidFloat4:
		f.Type = schema.Float32
	case oidFloat8:
		f.Type = schema.Float64
	case oidNumeric:
		f.Type = schema.DecimalT
		if typmod >= 4 {
			f.Precision, f.Scale = int((typmod-4)>>16&0xffff), int((typmod-4)&0xffff)
		}
	case oidDate:
		f.Type = schema.Date
	case oidTime, oidTimeTZ:
		f.Type = schema.Time
	case oidTimestamp, oidTimestampTZ:
		f.Type = schema.Timestamp
	case oidJSON, oidJSONB:
		f.Type = schema.JSON
	case oidBytea:
		f.Type = schema.Bytes
	default:
		f.Type = schema.String
		if (oid == oidVarchar || oid == oidBPChar) && typmod > 4 {
			f.Length = int(typmod - 4)
		}
	}
	return f
}

// Session settings of every connection, so text forms parse the same way
// whatever the server's defaults are.
var sessionParams = map[string]string{
	"TimeZone": "UTC", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "extra_float_digits": "3",
	"application_name": "braid-postgres-cdc",
}

// decodeText converts a value's text form (pgoutput's tuple data, or a
// snapshot's ::text) into the Go value its schema type promises.
func decodeText(c *column, text string) (any, error) {
	v, err := parseText(c, text)
	if err != nil {
		return nil, fmt.Errorf("column %q (%s): %w", c.name, c.field.Type, err)
	}
	return v, nil
}

func parseText(c *column, s string) (any, error) {
	switch c.oid {
	case oidBool:
		return s == "t" || s == "true", nil
	case oidInt2, oidInt4:
		n, err := strconv.ParseInt(s, 10, 32)
		return int32(n), err
	case oidInt8, oidOID:
		return strconv.ParseInt(s, 10, 64)
	case oidFloat4, oidFloat8:
		return strconv.ParseFloat(s, 64)
	case oidNumeric:
		return schema.Decimal(s), nil
	case oidDate:
		return parseDate(s)
	case oidTimestamp:
		return parseTimestamp(s, false)
	case oidTimestampTZ:
		return parseTimestamp(s, true)
	case oidJSON, oidJSONB:
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, err
		}
		return v, nil
	case oidBytea:
		if !strings.HasPrefix(s, `\x`) {
			return nil, fmt.Errorf("bytea is not in hex format: %.20q", s)
		}
		return hex.DecodeString(s[2:])
	}
	return s, nil
}

// The text forms of dates and times under DateStyle ISO, TimeZone UTC.
const (
	dateLayout = "2006-01-02"
	tsLayout   = "2006-01-02 15:04:05.999999999"
	tstzLayout = "2006-01-02 15:04:05.999999999Z07"
)

func parseDate(s string) (time.Time, error) {
	s, bc := strings.CutSuffix(s, " BC")
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return t, err
	}
	if bc {
		t = t.AddDate(-2*t.Year()+1, 0, 0)
	}
	return t, nil
}

func parseTimestamp(s string, zone bool) (time.Time, error) {
	if s == "infinity" || s == "-infinity" {
		return time.Time{}, fmt.Errorf("%s cannot be represented as a timestamp", s)
	}
	if !zone {
		return time.Parse(tsLayout, s)
	}
	// The offset may carry minutes (+05:30) or seconds.
	for _, layout := range []string{tstzLayout, tstzLayout + ":00", tstzLayout + ":00:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as timestamptz", s)
}
