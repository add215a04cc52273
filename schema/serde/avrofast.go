package serde

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hamba/avro/v2"
)

// fastRecord encodes and decodes flat Avro records (primitive fields,
// optionally nullable, and date/timestamp logical types) straight between
// map[string]any and bytes. hamba/avro's generic path resolves a codec for
// every value of a map[string]any; a compiled field list avoids that. Other
// schemas use hamba/avro.
type fastRecord struct {
	fields  []fastField
	strings bool // has string fields: decode copies the payload once
}

type fastKind uint8

const (
	fkBool fastKind = iota
	fkInt
	fkLong
	fkFloat
	fkDouble
	fkString
	fkBytes
	fkDate
	fkTimestampMillis
	fkTimestampMicros
)

type fastField struct {
	name     string
	kind     fastKind
	nullable bool
	nullIdx  int64 // union branch index of null
	valIdx   int64 // union branch index of the value
}

// errFallback sends a value the fast path cannot encode to hamba/avro.
var errFallback = errors.New("use hamba/avro")

// errShort reports a payload that ends inside a value.
var errShort = errors.New("avro: payload ends inside a value")

// compileFast returns a fast codec for s, or nil when s is not flat.
func compileFast(s avro.Schema) *fastRecord {
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil
	}
	fr := &fastRecord{}
	for _, f := range rec.Fields() {
		ff := fastField{name: f.Name()}
		t := f.Type()
		if u, ok := t.(*avro.UnionSchema); ok {
			if len(u.Types()) != 2 || !u.Nullable() {
				return nil
			}
			n, v := u.Indices()
			ff.nullable, ff.nullIdx, ff.valIdx, t = true, int64(n), int64(v), u.Types()[v]
		}
		p, ok := t.(*avro.PrimitiveSchema)
		if !ok || p.Prop(jsonProp) != nil {
			return nil
		}
		kind, ok := fastKindOf(p)
		if !ok {
			return nil
		}
		ff.kind = kind
		fr.strings = fr.strings || kind == fkString
		fr.fields = append(fr.fields, ff)
	}
	return fr
}

func fastKindOf(p *avro.PrimitiveSchema) (fastKind, bool) {
	if l := p.Logical(); l != nil {
		switch {
		case l.Type() == avro.Date && p.Type() == avro.Int:
			return fkDate, true
		case l.Type() == avro.TimestampMillis && p.Type() == avro.Long:
			return fkTimestampMillis, true
		case l.Type() == avro.TimestampMicros && p.Type() == avro.Long:
			return fkTimestampMicros, true
		}
		return 0, false
	}
	switch p.Type() {
	case avro.Boolean:
		return fkBool, true
	case avro.Int:
		return fkInt, true
	case avro.Long:
		return fkLong, true
	case avro.Float:
		return fkFloat, true
	case avro.Double:
		return fkDouble, true
	case avro.String:
		return fkString, true
	case avro.Bytes:
		return fkBytes, true
	}
	return 0, false
}

func (fr *fastRecord) encode(dst []byte, m map[string]any) ([]byte, error) {
	for i := range fr.fields {
		f := &fr.fields[i]
		v, ok := m[f.name]
		if !ok || v == nil {
			if !f.nullable {
				return nil, errFallback // defaults and errors are hamba's
			}
			dst = binary.AppendVarint(dst, f.nullIdx)
			continue
		}
		if f.nullable {
			dst = binary.AppendVarint(dst, f.valIdx)
		}
		var err error
		if dst, err = f.append(dst, v); err != nil {
			return nil, fmt.Errorf("field %q: %w", f.name, err)
		}
	}
	return dst, nil
}

func (f *fastField) append(dst []byte, v any) ([]byte, error) {
	switch f.kind {
	case fkBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want a boolean, got %T", v)
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case fkInt, fkLong:
		n, err := toInt64(v)
		if err != nil {
			return nil, err
		}
		if f.kind == fkInt && (n < math.MinInt32 || n > math.MaxInt32) {
			return nil, fmt.Errorf("%d does not fit a 32-bit int", n)
		}
		return binary.AppendVarint(dst, n), nil
	case fkFloat:
		x, err := toFloat64(v)
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(x))), err
	case fkDouble:
		x, err := toFloat64(v)
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x)), err
	case fkString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %T", v)
		}
		return append(binary.AppendVarint(dst, int64(len(s))), s...), nil
	case fkBytes:
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("want bytes, got %T", v)
		}
		return append(binary.AppendVarint(dst, int64(len(b))), b...), nil
	}
	t, ok := v.(time.Time)
	if !ok {
		return nil, fmt.Errorf("want a time, got %T", v)
	}
	switch f.kind {
	case fkDate:
		return binary.AppendVarint(dst, int64(math.Floor(float64(t.Unix())/86400))), nil
	case fkTimestampMillis:
		return binary.AppendVarint(dst, t.UnixMilli()), nil
	}
	return binary.AppendVarint(dst, t.UnixMicro()), nil
}

func (fr *fastRecord) decode(b []byte) (map[string]any, error) {
	m := make(map[string]any, len(fr.fields))
	// Strings are slices of one copy of the payload: one allocation per
	// record instead of one per string.
	var all string
	if fr.strings {
		all = string(b)
	}
	size := len(b)
	for i := range fr.fields {
		f := &fr.fields[i]
		if f.nullable {
			idx, n := binary.Varint(b)
			if n <= 0 {
				return nil, errShort
			}
			b = b[n:]
			if idx == f.nullIdx {
				m[f.name] = nil
				continue
			}
			if idx != f.valIdx {
				return nil, fmt.Errorf("avro: field %q: union index %d out of range", f.name, idx)
			}
		}
		var v any
		var rest []byte
		var err error
		if f.kind == fkString {
			v, rest, err = readString(b, all, size)
		} else {
			v, rest, err = f.read(b)
		}
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.name, err)
		}
		m[f.name], b = v, rest
	}
	return m, nil
}

// readString reads a string as a slice of all, the copy of the payload whose
// length was size.
func readString(b []byte, all string, size int) (any, []byte, error) {
	n, w := binary.Varint(b)
	if w <= 0 {
		return nil, nil, errShort
	}
	b = b[w:]
	if n < 0 || n > int64(len(b)) {
		return nil, nil, fmt.Errorf("avro: length %d with %d bytes left", n, len(b))
	}
	start := size - len(b)
	return all[start : start+int(n)], b[n:], nil
}

func (f *fastField) read(b []byte) (any, []byte, error) {
	switch f.kind {
	case fkBool:
		if len(b) < 1 {
			return nil, nil, errShort
		}
		if b[0] > 1 {
			return nil, nil, fmt.Errorf("avro: invalid boolean byte 0x%02x", b[0])
		}
		return b[0] == 1, b[1:], nil
	case fkFloat:
		if len(b) < 4 {
			return nil, nil, errShort
		}
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), b[4:], nil
	case fkDouble:
		if len(b) < 8 {
			return nil, nil, errShort
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:], nil
	}
	n, size := binary.Varint(b)
	if size <= 0 {
		return nil, nil, errShort
	}
	b = b[size:]
	if (f.kind == fkInt || f.kind == fkDate) && (n < math.MinInt32 || n > math.MaxInt32) {
		return nil, nil, fmt.Errorf("avro: %d overflows an int", n)
	}
	switch f.kind {
	case fkBytes:
		if n < 0 || n > int64(len(b)) {
			return nil, nil, fmt.Errorf("avro: length %d with %d bytes left", n, len(b))
		}
		out := make([]byte, n)
		copy(out, b)
		return out, b[n:], nil
	case fkDate:
		return time.Unix(n*86400, 0).UTC(), b, nil
	case fkTimestampMillis:
		return time.UnixMilli(n).UTC(), b, nil
	case fkTimestampMicros:
		return time.UnixMicro(n).UTC(), b, nil
	}
	return n, b, nil
}
