package convert

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/braidhq/braid/schema"
)

// ErrHeader is returned by the csv converter's Decode for a header line; the
// caller skips the record.
var ErrHeader = errors.New("csv header line")

// HeaderWriter is implemented by converters whose files start with a header
// line (csv with header: true); a file sink writes Header once per file.
type HeaderWriter interface {
	// Header returns the header line for topic without a line end, or nil.
	Header(topic string) []byte
}

// The column types the csv converter parses, by their names in pipeline files.
var csvTypes = map[string]schema.Type{
	"string": schema.String, "int64": schema.Int64, "float64": schema.Float64,
	"boolean": schema.Boolean, "decimal": schema.DecimalT, "date": schema.Date, "timestamp": schema.Timestamp,
}

// csvConverter reads and writes one CSV line per record. Columns come from
// the columns option or, with header: true, from the first line it sees on
// each topic. Cells are strings unless types names a column's type; an empty
// cell of a typed column is null.
type csvConverter struct {
	columns []string
	types   map[string]schema.Type
	header  bool
	comma   rune
	learned sync.Map // topic → []string, the header line seen on that topic
}

func newCSV(opts map[string]any, _ Env) (Converter, error) {
	if err := checkOptions("csv", opts, "columns", "header", "types", "delimiter"); err != nil {
		return nil, err
	}
	c := &csvConverter{comma: ',', types: map[string]schema.Type{}}
	var err error
	if c.header, err = boolOption("csv", opts, "header"); err != nil {
		return nil, err
	}
	if c.columns, err = stringList(opts["columns"]); err != nil {
		return nil, &OptionError{Converter: "csv", Option: "columns", Message: err.Error()}
	}
	for i, col := range c.columns {
		if col == "" || slices.Contains(c.columns[:i], col) {
			return nil, &OptionError{Converter: "csv", Option: "columns", Message: fmt.Sprintf("column %d: name %q is empty or repeated", i, col)}
		}
	}
	if c.columns == nil && !c.header {
		return nil, &OptionError{Converter: "csv", Option: "columns", Message: "give columns: [a, b, c] or header: true"}
	}
	if err := c.parseTypes(opts["types"]); err != nil {
		return nil, err
	}
	if d, ok := opts["delimiter"]; ok {
		s, _ := d.(string)
		r, size := utf8.DecodeRuneInString(s)
		if size == 0 || size != len(s) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
			return nil, &OptionError{Converter: "csv", Option: "delimiter", Message: fmt.Sprintf("must be one character other than a quote or line end, not %v", d)}
		}
		c.comma = r
	}
	return c, nil
}

func (c *csvConverter) parseTypes(raw any) error {
	if raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return &OptionError{Converter: "csv", Option: "types", Message: "must be a map of column to type"}
	}
	for col, v := range m {
		name, _ := v.(string)
		t, ok := csvTypes[name]
		if !ok {
			return &OptionError{Converter: "csv", Option: "types." + col,
				Message: fmt.Sprintf("must be one of boolean, date, decimal, float64, int64, string, timestamp, not %v", v)}
		}
		if c.columns != nil && !slices.Contains(c.columns, col) {
			return &OptionError{Converter: "csv", Option: "types." + col, Message: "is not one of the columns"}
		}
		c.types[col] = t
	}
	return nil
}

func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d must be a string, not %v", i, e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("must be a list of names, not %v", v)
}

func (c *csvConverter) Name() string { return "csv" }

// columnsFor returns the columns of topic, or nil when no header was seen yet.
func (c *csvConverter) columnsFor(topic string) []string {
	if c.columns != nil {
		return c.columns
	}
	if v, ok := c.learned.Load(topic); ok {
		return v.([]string)
	}
	return nil
}

func (c *csvConverter) Decode(_ context.Context, topic string, data []byte) (map[string]any, *schema.Schema, error) {
	cells, err := c.readLine(data)
	if err != nil {
		return nil, nil, fmt.Errorf("csv: %w", err)
	}
	cols := c.columnsFor(topic)
	if c.header && (cols == nil || slices.Equal(cells, cols)) {
		if cols == nil {
			c.learned.LoadOrStore(topic, slices.Clone(cells))
		}
		return nil, nil, ErrHeader
	}
	if len(cells) != len(cols) {
		return nil, nil, fmt.Errorf("csv: line has %d fields, expected %d (%s)", len(cells), len(cols), strings.Join(cols, ", "))
	}
	m := make(map[string]any, len(cols))
	for i, col := range cols {
		v, err := parseCell(cells[i], c.types[col])
		if err != nil {
			return nil, nil, fmt.Errorf("csv: column %q: %w", col, err)
		}
		m[col] = v
	}
	return m, c.schemaFor(topic, cols), nil
}

// readLine parses exactly one CSV record; a trailing line end is allowed.
func (c *csvConverter) readLine(data []byte) ([]string, error) {
	if len(bytes.TrimRight(data, "\r\n")) == 0 {
		return nil, errors.New("line is empty")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = c.comma
	r.FieldsPerRecord = -1
	cells, err := r.Read()
	if err != nil {
		return nil, err
	}
	if _, err := r.Read(); err != io.EOF {
		return nil, errors.New("value holds more than one line; expected one CSV line per record")
	}
	return cells, nil
}

func (c *csvConverter) schemaFor(topic string, cols []string) *schema.Schema {
	s := &schema.Schema{Name: topic, Fields: make([]schema.Field, len(cols))}
	for i, col := range cols {
		t, typed := c.types[col]
		if !typed {
			t = schema.String
		}
		s.Fields[i] = schema.Field{Name: col, Type: t, Optional: typed}
	}
	return s
}

func parseCell(cell string, t schema.Type) (any, error) {
	if t == "" || t == schema.String {
		return cell, nil
	}
	text := strings.TrimSpace(cell)
	if text == "" {
		return nil, nil
	}
	var v any
	var err error
	switch t {
	case schema.Int64:
		v, err = strconv.ParseInt(text, 10, 64)
	case schema.Float64:
		v, err = strconv.ParseFloat(text, 64)
	case schema.Boolean:
		v, err = strconv.ParseBool(text)
	case schema.DecimalT:
		d := strings.TrimPrefix(text, "+")
		if !isDecimalText(d) {
			err = errors.New("not digits with an optional point")
		}
		v = schema.Decimal(d)
	case schema.Date:
		v, err = time.Parse(time.DateOnly, text)
	case schema.Timestamp:
		v, err = parseTimestamp(text)
	}
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid %s", cell, t)
	}
	return v, nil
}

func parseTimestamp(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if ts, err := time.Parse(layout, s); err == nil {
			return ts, nil
		}
	}
	return time.Time{}, errors.New("not a timestamp")
}

func isDecimalText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, point := strings.Cut(s, ".")
	return isDigits(intPart) && (!point || isDigits(frac))
}

func isDigits(s string) bool {
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

// Encode writes one CSV line, without a line end, in column order: the
// columns option, the header seen on the topic, the schema's field order, or
// else the value's field names sorted. A field that is not a column is an
// error rather than silently lost.
func (c *csvConverter) Encode(_ context.Context, topic string, value map[string]any, s *schema.Schema) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	cols := c.columnsFor(topic)
	if cols == nil && s != nil {
		for _, f := range s.Fields {
			cols = append(cols, f.Name)
		}
	}
	if cols == nil {
		for k := range value {
			cols = append(cols, k)
		}
		slices.Sort(cols)
	}
	for k := range value {
		if !slices.Contains(cols, k) {
			return nil, fmt.Errorf("csv: field %q is not one of the columns (%s)", k, strings.Join(cols, ", "))
		}
	}
	cells := make([]string, len(cols))
	for i, col := range cols {
		text, err := cellText(value[col], c.types[col])
		if err != nil {
			return nil, fmt.Errorf("csv: column %q: %w", col, err)
		}
		cells[i] = text
	}
	return c.writeLine(cells)
}

func (c *csvConverter) writeLine(cells []string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Comma = c.comma
	if err := w.Write(cells); err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Header returns the header line when the converter was configured with
// header: true and knows the topic's columns.
func (c *csvConverter) Header(topic string) []byte {
	cols := c.columnsFor(topic)
	if !c.header || cols == nil {
		return nil
	}
	line, _ := c.writeLine(cols)
	return line
}

func cellText(v any, t schema.Type) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case schema.Decimal:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case []byte:
		return string(x), nil
	case time.Time:
		if t == schema.Date {
			return x.Format(time.DateOnly), nil
		}
		return x.Format(time.RFC3339Nano), nil
	}
	b, err := appendJSON(nil, v)
	return string(b), err
}
