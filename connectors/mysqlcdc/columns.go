package mysqlcdc

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/braidhq/braid/schema"
)

// column is how one column's values become record values.
type column struct {
	field schema.Field
	enum  []string // ENUM or SET members, in definition order
	set   bool
	bit   bool // BIT(n>1): the driver gives big-endian bytes
}

// binaryCollation is the id of the "binary" collation: BINARY, VARBINARY and
// BLOB columns carry it, CHAR, VARCHAR and TEXT columns a character set's.
const binaryCollation = 63

// columnsFromTableMap derives the columns from a TABLE_MAP event written
// with binlog_row_metadata=FULL. jsonCols names the columns MariaDB declares
// JSON (an alias of LONGTEXT there, so the binlog cannot tell).
func columnsFromTableMap(tm *replication.TableMapEvent, jsonCols map[string]bool) ([]column, []string, error) {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		return nil, nil, fmt.Errorf("table %s.%s: the binlog has no column names; set binlog_row_metadata=FULL", tm.Schema, tm.Table)
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enums, sets := tm.EnumStrValueMap(), tm.SetStrValueMap()
	cols := make([]column, len(names))
	for i, name := range names {
		f := schema.Field{Name: name, Optional: true}
		if ok, n := tm.Nullable(i); ok {
			f.Optional = n
		}
		c := column{}
		meta := tm.ColumnMeta[i]
		typ := tm.ColumnType[i]
		if rt := byte(meta >> 8); typ == mysql.MYSQL_TYPE_STRING && (rt == mysql.MYSQL_TYPE_ENUM || rt == mysql.MYSQL_TYPE_SET) {
			typ = rt
		}
		switch typ {
		case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_YEAR:
			f.Type = schema.Int32
		case mysql.MYSQL_TYPE_LONG:
			f.Type = schema.Int32
			if unsigned[i] {
				f.Type = schema.Int64
			}
		case mysql.MYSQL_TYPE_LONGLONG:
			f.Type = schema.Int64
			if unsigned[i] {
				f.Type, f.Precision = schema.DecimalT, 20
			}
		case mysql.MYSQL_TYPE_FLOAT:
			f.Type = schema.Float32
		case mysql.MYSQL_TYPE_DOUBLE:
			f.Type = schema.Float64
		case mysql.MYSQL_TYPE_NEWDECIMAL:
			f.Type, f.Precision, f.Scale = schema.DecimalT, int(meta>>8), int(meta&0xff)
		case mysql.MYSQL_TYPE_BIT:
			f.Type, c.bit = schema.Int64, true
			if (meta>>8)*8+meta&0xff == 1 {
				f.Type, c.bit = schema.Boolean, false
			}
		case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
			f.Type = schema.Timestamp
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
			f.Type = schema.Date
		case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
			f.Type = schema.Time
		case mysql.MYSQL_TYPE_ENUM:
			f.Type, c.enum = schema.String, enums[i]
		case mysql.MYSQL_TYPE_SET:
			f.Type, c.enum, c.set = schema.String, sets[i], true
		case mysql.MYSQL_TYPE_JSON:
			f.Type = schema.JSON
		case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_STRING:
			f.Type = schema.String
			if coll, ok := collations[i]; !ok || coll == binaryCollation {
				f.Type = schema.Bytes
			}
			if jsonCols[name] {
				f.Type = schema.JSON
			}
		case mysql.MYSQL_TYPE_GEOMETRY:
			f.Type = schema.Bytes
		default:
			return nil, nil, fmt.Errorf("table %s.%s column %q: binlog type %d is not supported", tm.Schema, tm.Table, name, typ)
		}
		c.field = f
		cols[i] = c
	}
	key := make([]string, len(tm.PrimaryKey))
	for i, k := range tm.PrimaryKey {
		key[i] = names[k]
	}
	return cols, key, nil
}

// infoColumn is one row of information_schema.COLUMNS.
type infoColumn struct {
	name, dataType, columnType string
	precision, scale           int
	nullable, json             bool
}

// columnFromInfo maps a column as information_schema describes it to the
// same field columnsFromTableMap derives from the binlog.
func columnFromInfo(ic infoColumn) column {
	f := schema.Field{Name: ic.name, Optional: ic.nullable}
	unsigned := strings.Contains(ic.columnType, "unsigned")
	switch ic.dataType {
	case "tinyint", "smallint", "mediumint", "year":
		f.Type = schema.Int32
	case "int", "integer":
		f.Type = schema.Int32
		if unsigned {
			f.Type = schema.Int64
		}
	case "bigint":
		f.Type = schema.Int64
		if unsigned {
			f.Type, f.Precision = schema.DecimalT, 20
		}
	case "float":
		f.Type = schema.Float32
	case "double", "real":
		f.Type = schema.Float64
	case "decimal", "numeric":
		f.Type, f.Precision, f.Scale = schema.DecimalT, ic.precision, ic.scale
	case "bit":
		f.Type = schema.Int64
		if ic.columnType == "bit(1)" {
			f.Type = schema.Boolean
		}
		return column{field: f, bit: f.Type == schema.Int64}
	case "timestamp", "datetime":
		f.Type = schema.Timestamp
	case "date":
		f.Type = schema.Date
	case "time":
		f.Type = schema.Time
	case "json":
		f.Type = schema.JSON
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		f.Type = schema.String
	default: // binary, varbinary, blobs, geometry
		f.Type = schema.Bytes
	}
	if ic.json {
		f.Type = schema.JSON
	}
	return column{field: f}
}

// value converts what go-mysql decoded from the binlog, or what the driver
// scanned in a snapshot, to the Go type the field's schema type promises.
func (c *column) value(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	f := &c.field
	switch f.Type {
	case schema.Int32:
		n, err := toInt64(v)
		return int32(n), err
	case schema.Int64:
		if b, ok := v.([]byte); ok && c.bit {
			var buf [8]byte
			copy(buf[8-len(b):], b)
			return int64(binary.BigEndian.Uint64(buf[:])), nil
		}
		return toInt64(v)
	case schema.Boolean:
		switch x := v.(type) {
		case []byte:
			return len(x) > 0 && (x[len(x)-1] == 1 || x[len(x)-1] == '1'), nil
		default:
			n, err := toInt64(v)
			return n != 0, err
		}
	case schema.Float32:
		switch x := v.(type) {
		case float32:
			// Through its shortest text, so 1.1 stays 1.1 and not 1.100000023841858.
			return strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		case float64:
			return strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
		}
		return strconv.ParseFloat(text(v), 64)
	case schema.Float64:
		if x, ok := v.(float64); ok {
			return x, nil
		}
		return strconv.ParseFloat(text(v), 64)
	case schema.DecimalT:
		return schema.Decimal(text(v)), nil
	case schema.Timestamp:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case string, []byte:
			s := text(x)
			if strings.HasPrefix(s, "0000-00-00") {
				return nil, nil // a zero date has no instant
			}
			t, err := time.Parse("2006-01-02 15:04:05.999999", s)
			return t, err
		}
	case schema.Date:
		switch x := v.(type) {
		case time.Time:
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), nil
		case string, []byte:
			s := text(x)
			if strings.HasPrefix(s, "0000-00-00") {
				return nil, nil
			}
			return time.Parse("2006-01-02", s)
		}
	case schema.Time:
		if t, ok := v.(time.Time); ok {
			return t.Format("15:04:05.999999"), nil
		}
		return text(v), nil
	case schema.String:
		if c.enum != nil {
			if n, ok := v.(int64); ok {
				return c.members(n), nil
			}
		}
		return text(v), nil
	case schema.Bytes:
		switch x := v.(type) {
		case []byte:
			return append([]byte{}, x...), nil
		case string:
			return []byte(x), nil
		}
	case schema.JSON:
		raw := text(v)
		if raw == "" {
			return nil, nil
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var out any
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("column %q: invalid JSON: %w", f.Name, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("column %q: cannot read %T as %s", f.Name, v, f.Type)
}

// members renders an ENUM index (1-based, 0 is the empty error value) or a
// SET bitmask as MySQL shows it.
func (c *column) members(n int64) string {
	if !c.set {
		if n >= 1 && int(n) <= len(c.enum) {
			return c.enum[n-1]
		}
		return ""
	}
	var parts []string
	for m := uint64(n); m != 0; m &= m - 1 {
		if i := bits.TrailingZeros64(m); i < len(c.enum) {
			parts = append(parts, c.enum[i])
		}
	}
	return strings.Join(parts, ",")
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > 1<<63-1 {
			return 0, fmt.Errorf("%d overflows int64", x)
		}
		return int64(x), nil
	case []byte, string:
		return strconv.ParseInt(text(x), 10, 64)
	}
	return 0, fmt.Errorf("cannot read %T as an integer", v)
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}
