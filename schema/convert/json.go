package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/braidhq/braid/schema"
	"github.com/valyala/fastjson"
)

// How the json converter decodes numbers.
const (
	// NumbersAuto: integers that fit are int64; other numbers are float64
	// unless float64 would lose digits (more than 15 significant digits, or an
	// integer beyond int64), in which case they stay exact as schema.Decimal.
	NumbersAuto = "auto"
	// NumbersDecimal: integers that fit are int64; every other number is a
	// schema.Decimal holding its exact text (money, quantities).
	NumbersDecimal = "decimal"
)

// jsonConverter reads and writes one JSON object per record.
//
// Decoded values are plain Go values: nil, bool, int64, float64,
// schema.Decimal, string, []any and map[string]any. Encode writes map keys
// sorted (deterministic bytes, so replays dedupe), Decimal as a bare JSON
// number, time.Time in RFC 3339 and []byte as base64, like encoding/json.
type jsonConverter struct {
	infer   bool
	decimal bool
}

func newJSON(opts map[string]any, _ Env) (Converter, error) {
	if err := checkOptions("json", opts, "infer_schema", "numbers"); err != nil {
		return nil, err
	}
	infer, err := boolOption("json", opts, "infer_schema")
	if err != nil {
		return nil, err
	}
	c := &jsonConverter{infer: infer}
	switch n := opts["numbers"]; n {
	case nil, NumbersAuto:
	case NumbersDecimal:
		c.decimal = true
	default:
		return nil, &OptionError{Converter: "json", Option: "numbers", Message: fmt.Sprintf("must be auto or decimal, not %v", n)}
	}
	return c, nil
}

// NewJSON returns the json converter; inferSchema makes Decode return a
// schema inferred from each object (see InferSchema).
func NewJSON(inferSchema bool) Converter { return &jsonConverter{infer: inferSchema} }

func (c *jsonConverter) Name() string { return "json" }

func (c *jsonConverter) Decode(_ context.Context, topic string, data []byte) (map[string]any, *schema.Schema, error) {
	m, err := c.decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("json: %w", err)
	}
	if !c.infer {
		return m, nil, nil
	}
	s, err := InferSchema(topic, m)
	if err != nil {
		return nil, nil, fmt.Errorf("json: %w", err)
	}
	return m, s, nil
}

func (c *jsonConverter) decode(data []byte) (map[string]any, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("value is empty, not a JSON object")
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("value starts with %q, not a JSON object", firstToken(trimmed))
	}
	p := jsonParsers.Get()
	defer jsonParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, diagnose(data)
	}
	return c.object(v)
}

// diagnose explains why data is not one JSON object, with the byte offset
// (encoding/json says where; it only runs for bad input).
func diagnose(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
		}
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(data[off:])) > 0 {
		return fmt.Errorf("unexpected data after the object at byte %d", off)
	}
	return errors.New("invalid JSON")
}

// jsonParsers reuse fastjson's parsers: a value decodes without reflection
// and with few allocations (the sink side of a pipeline decodes every record).
var jsonParsers fastjson.ParserPool

// object turns a parsed JSON object into a map, numbers by c.number.
func (c *jsonConverter) object(v *fastjson.Value) (map[string]any, error) {
	obj, err := v.Object()
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, obj.Len())
	var ferr error
	obj.Visit(func(k []byte, e *fastjson.Value) {
		if ferr != nil {
			return
		}
		x, err := c.value(e)
		if err != nil {
			ferr = fmt.Errorf("field %q: %w", k, err)
			return
		}
		m[validString(k)] = x
	})
	return m, ferr
}

// validNumber checks JSON's number grammar, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// which the parser is laxer about (leading zeros, NaN).
func validNumber(b []byte) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// validString copies b, replacing invalid UTF-8 with U+FFFD as encoding/json
// does, so a value encodes back to the same text.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (c *jsonConverter) value(v *fastjson.Value) (any, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, nil
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeString:
		b, err := v.StringBytes()
		return validString(b), err
	case fastjson.TypeNumber:
		var buf [32]byte
		raw := v.MarshalTo(buf[:0])
		if !validNumber(raw) {
			return nil, fmt.Errorf("invalid JSON number %q", raw)
		}
		return c.number(string(raw))
	case fastjson.TypeObject:
		return c.object(v)
	case fastjson.TypeArray:
		items, err := v.Array()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, e := range items {
			if out[i], err = c.value(e); err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %s", v.Type())
}

func firstToken(b []byte) string {
	if len(b) > 12 {
		b = b[:12]
	}
	return string(b)
}

func (c *jsonConverter) number(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		return schema.Decimal(s), nil // beyond int64: keep every digit
	}
	if !strings.ContainsAny(s, "eE") && (c.decimal || significantDigits(s) > 15) {
		return schema.Decimal(s), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("number %s is out of range", s)
	}
	return f, nil
}

// significantDigits counts the digits of a plain decimal literal without
// leading zeros; float64 keeps 15 of them exactly.
func significantDigits(s string) int {
	n, leading := 0, true
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '0' || ch > '9' || (leading && ch == '0') {
			continue
		}
		leading = false
		n++
	}
	return n
}

// Encode writes value as one JSON object; a nil value (a tombstone) is nil.
func (c *jsonConverter) Encode(_ context.Context, _ string, value map[string]any, _ *schema.Schema) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	b, err := appendJSON(make([]byte, 0, 256), value)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return b, nil
}
