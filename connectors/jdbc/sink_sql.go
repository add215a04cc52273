package jdbc

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
)

// maxStatementBytes bounds one multi-row statement, well inside MySQL's
// default 16 MiB max_allowed_packet.
const maxStatementBytes = 8 << 20

// chunk splits a run of rows sharing one column set into statements: at
// most batch.size rows and maxStatementBytes each, and never the same key
// twice in one statement (PostgreSQL's ON CONFLICT refuses that, and order
// must hold anyway).
func (s *sink) chunk(rows []row) [][]row {
	var out [][]row
	start, size := 0, 0
	seen := map[any]bool{}
	for i := range rows {
		var k any
		if len(rows[i].pk) > 0 {
			k = rows[i].pkKey()
		}
		n := rowBytes(&rows[i])
		if i > start && (i-start >= s.cfg.batchSize || size+n > maxStatementBytes || (k != nil && seen[k])) {
			out = append(out, rows[start:i])
			start, size = i, 0
			clear(seen)
		}
		size += n
		if k != nil {
			seen[k] = true
		}
	}
	if start < len(rows) {
		out = append(out, rows[start:])
	}
	return out
}

func rowBytes(r *row) int {
	n := 8
	for _, v := range r.vals {
		switch x := v.(type) {
		case string:
			n += 2*len(x) + 4
		case []byte:
			n += 2*len(x) + 10
		default:
			n += 24
		}
	}
	return n
}

// statement builds the SQL and arguments for a chunk of rows sharing one
// column set.
func (s *sink) statement(m *tableMeta, rows []row) (string, []any, error) {
	if s.cfg.dialect == Postgres {
		return s.pgStatement(m, rows)
	}
	return s.myStatement(m, rows)
}

func (s *sink) myStatement(m *tableMeta, rows []row) (string, []any, error) {
	d := s.cfg.dialect
	r0 := &rows[0]
	cols := d.quoteAll(r0.cols)
	args := make([]any, 0, len(rows)*len(cols))
	for _, r := range rows {
		for i, v := range r.vals {
			a, err := bindMySQL(v, &r.fields[i])
			if err != nil {
				return "", nil, fmt.Errorf("column %q: %w", r.cols[i], err)
			}
			args = append(args, a)
		}
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	var b strings.Builder
	switch {
	case r0.del:
		target := strings.Join(cols, ", ")
		if len(cols) > 1 {
			target = "(" + target + ")"
		} else {
			tuple = "?"
		}
		fmt.Fprintf(&b, "DELETE FROM %s WHERE %s IN (", d.Quote(m.name), target)
		writeRepeated(&b, tuple, len(rows))
		b.WriteString(")")
	case s.cfg.mode == Update:
		var set, where []string
		for i, c := range r0.cols {
			if isIn(c, r0.pk) {
				where = append(where, cols[i]+" = ?")
			} else {
				set = append(set, cols[i]+" = ?")
			}
		}
		if len(set) == 0 {
			return "", nil, fmt.Errorf("update mode: the record has only key columns")
		}
		// Arguments: set values first, then key values.
		var sa, wa []any
		for i, c := range r0.cols {
			if isIn(c, r0.pk) {
				wa = append(wa, args[i])
			} else {
				sa = append(sa, args[i])
			}
		}
		args = append(sa, wa...)
		fmt.Fprintf(&b, "UPDATE %s SET %s WHERE %s", d.Quote(m.name), strings.Join(set, ", "), strings.Join(where, " AND "))
	default:
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", d.Quote(m.name), strings.Join(cols, ", "))
		writeRepeated(&b, tuple, len(rows))
		if s.cfg.mode == Upsert {
			var set []string
			for i, c := range r0.cols {
				if !isIn(c, r0.pk) {
					set = append(set, fmt.Sprintf("%s = VALUES(%s)", cols[i], cols[i]))
				}
			}
			if len(set) == 0 {
				set = []string{cols[0] + " = " + cols[0]}
			}
			b.WriteString(" ON DUPLICATE KEY UPDATE " + strings.Join(set, ", "))
		}
	}
	return b.String(), args, nil
}

func writeRepeated(b *strings.Builder, s string, n int) {
	b.Grow(n * (len(s) + 1))
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
}

// pgStatement passes each column as one text[] parameter and casts it to the
// column's type: one statement of any width, parameters never in the SQL.
func (s *sink) pgStatement(m *tableMeta, rows []row) (string, []any, error) {
	d := s.cfg.dialect
	r0 := &rows[0]
	n := len(r0.cols)
	args := make([]any, n)
	arrays := make([]string, n)
	aliases := make([]string, n)
	casts := make([]string, n)
	for i, c := range r0.cols {
		typ := m.types[c]
		col := make([]*string, len(rows))
		for j := range rows {
			v, err := encodePG(rows[j].vals[i], &rows[j].fields[i], typ)
			if err != nil {
				return "", nil, fmt.Errorf("column %q: %w", c, err)
			}
			col[j] = v
		}
		args[i] = col
		arrays[i] = fmt.Sprintf("$%d::text[]", i+1)
		aliases[i] = fmt.Sprintf("c%d", i)
		casts[i] = fmt.Sprintf("v.c%d::%s", i, castType(typ))
	}
	from := fmt.Sprintf("unnest(%s) AS v(%s)", strings.Join(arrays, ", "), strings.Join(aliases, ", "))
	tbl := d.Quote(m.name)
	var set, where []string
	for i, c := range r0.cols {
		if isIn(c, r0.pk) {
			where = append(where, fmt.Sprintf("%s.%s = %s", tbl, d.Quote(c), casts[i]))
		} else {
			set = append(set, fmt.Sprintf("%s = %s", d.Quote(c), casts[i]))
		}
	}
	cols := strings.Join(d.quoteAll(r0.cols), ", ")
	switch {
	case r0.del:
		return fmt.Sprintf("DELETE FROM %s USING %s WHERE %s", tbl, from, strings.Join(where, " AND ")), args, nil
	case s.cfg.mode == Update:
		if len(set) == 0 {
			return "", nil, fmt.Errorf("update mode: the record has only key columns")
		}
		return fmt.Sprintf("UPDATE %s SET %s FROM %s WHERE %s", tbl, strings.Join(set, ", "), from, strings.Join(where, " AND ")), args, nil
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", tbl, cols, strings.Join(casts, ", "), from)
	if s.cfg.mode == Upsert {
		var ups []string
		for _, c := range r0.cols {
			if !isIn(c, r0.pk) {
				ups = append(ups, fmt.Sprintf("%s = EXCLUDED.%s", d.Quote(c), d.Quote(c)))
			}
		}
		q += " ON CONFLICT (" + strings.Join(d.quoteAll(r0.pk), ", ") + ")"
		if len(ups) == 0 {
			q += " DO NOTHING"
		} else {
			q += " DO UPDATE SET " + strings.Join(ups, ", ")
		}
	}
	return q, args, nil
}

// castType drops the length of character and bit types: an explicit cast
// to varchar(5) silently truncates, while assigning the unbounded value to
// the column refuses a value that is too long.
func castType(typ string) string {
	unbounded := map[string]string{"character varying(": "character varying", "character(": "text",
		"bit varying(": "bit varying", "bit(": "bit varying"}
	for p, u := range unbounded {
		if strings.HasPrefix(typ, p) && strings.HasSuffix(typ, ")") {
			return u
		}
	}
	return typ
}

func isIn(s string, list []string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// textTime parses an RFC 3339 string into a time for timestamp and date
// fields: a record that went through JSON carries its instants as text, which
// MySQL does not accept in that form.
func textTime(v any, f *schema.Field) any {
	s, ok := v.(string)
	if !ok || f == nil || (f.Type != schema.Timestamp && f.Type != schema.Date) {
		return v
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	return v
}

// bindMySQL converts a value to what go-sql-driver/mysql binds.
func bindMySQL(v any, f *schema.Field) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.Type == schema.JSON || f.Type == schema.Array || f.Type == schema.Map || f.Type == schema.Struct {
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
		b, err := json.Marshal(v)
		return string(b), err
	}
	switch x := textTime(v, f).(type) {
	case string, []byte, bool, int64, float64:
		return x, nil
	case schema.Decimal:
		return string(x), nil
	case json.Number:
		return string(x), nil
	case time.Time:
		return x.UTC(), nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float32:
		return float64(x), nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		return string(b), err
	}
	return fmt.Sprint(v), nil
}

// pgTimeLayout renders instants for PostgreSQL's timestamp, timestamptz and
// date input (always UTC).
const pgTimeLayout = "2006-01-02 15:04:05.999999999Z07:00"

// encodePG renders a value as the text PostgreSQL casts to colType.
func encodePG(v any, f *schema.Field, colType string) (*string, error) {
	if v == nil {
		return nil, nil
	}
	var s string
	bytea := colType == "bytea"
	if f.Type == schema.JSON || f.Type == schema.Array || f.Type == schema.Map || f.Type == schema.Struct {
		if b, ok := v.([]byte); ok {
			s = string(b)
		} else {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			s = string(b)
		}
		return &s, nil
	}
	switch x := v.(type) {
	case string:
		s = x
		if bytea {
			s = `\x` + hex.EncodeToString([]byte(x))
		}
	case []byte:
		s = string(x)
		if bytea {
			s = `\x` + hex.EncodeToString(x)
		}
	case bool:
		s = strconv.FormatBool(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case int:
		s = strconv.Itoa(x)
	case int32:
		s = strconv.FormatInt(int64(x), 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case schema.Decimal:
		s = string(x)
	case json.Number:
		s = string(x)
	case time.Time:
		s = x.UTC().Format(pgTimeLayout)
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		s = string(b)
	default:
		s = fmt.Sprint(x)
	}
	return &s, nil
}
