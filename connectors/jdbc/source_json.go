package jdbc

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// encodeKey renders key columns as a JSON object in key order.
func encodeKey(b []byte, cols []string, row map[string]any) ([]byte, error) {
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, row[c]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends v as JSON: a fast path for the values rows hold
// (decimals as JSON numbers, times as RFC 3339 strings), json.Marshal for
// the rest.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case string:
		return appendJSONString(b, x), nil
	case schema.Decimal:
		return append(b, x...), nil
	case time.Time:
		b = append(b, '"')
		b = x.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	}
	raw, err := json.Marshal(v)
	return append(b, raw...), err
}

// appendJSONString appends s as a JSON string; json.Marshal handles the
// strings that need escaping.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s)
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// position renders every table's progress: {"v":1,"t":{"name":state,...}}.
func (s *source) position() sdk.Position {
	p, _ := s.slab.add(func(b []byte) ([]byte, error) { return s.appendPosition(b), nil })
	return p
}

func (s *source) appendPosition(b []byte) []byte {
	b = append(b, `{"v":1,"t":{`...)
	for i, t := range s.tables {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.name)
		b = append(b, ':')
		b = appendState(b, &t.st)
	}
	return append(b, "}}"...)
}

// posFormat renders the positions of one batch of a keyset-tracked table
// cheaply: every table's state but this table's keyset is the same for each
// row of the batch, so it is rendered once as a prefix and a suffix around
// the row's tracking values.
type posFormat struct{ prefix, suffix []byte }

func (s *source) newPosFormat(t *table) posFormat {
	var pf posFormat
	b := append([]byte(nil), `{"v":1,"t":{`...)
	for i, o := range s.tables {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, o.name)
		b = append(b, ':')
		if o != t {
			b = appendState(b, &o.st)
			continue
		}
		// The state without its keyset, with the keyset spliced in first.
		st := o.st
		st.Key = nil
		rest := appendState(nil, &st) // "{...}"
		pf.prefix = append(b, `{"k":[`...)
		b = []byte{']'}
		if inner := rest[1 : len(rest)-1]; len(inner) > 0 {
			b = append(append(b, ','), inner...)
		}
		b = append(b, '}')
	}
	pf.suffix = append(b, "}}"...)
	return pf
}

// appendTrack appends one tracking value as restoreState expects it
// (decimals as strings).
func appendTrack(b []byte, v any) []byte {
	if dec, ok := v.(schema.Decimal); ok {
		v = string(dec)
	}
	b, _ = appendJSON(b, v)
	return b
}

func appendState(b []byte, st *tableState) []byte {
	b = append(b, '{')
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	if st.Key != nil {
		b = append(b, `"k":[`...)
		for i, v := range st.Key {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTrack(b, v)
		}
		b = append(b, ']')
	}
	if st.Off != 0 {
		sep()
		b = append(append(b, `"o":`...), strconv.FormatInt(st.Off, 10)...)
	}
	if st.Pass != 0 {
		sep()
		b = append(append(b, `"p":`...), strconv.FormatInt(st.Pass, 10)...)
	}
	if st.Done {
		sep()
		b = append(b, `"d":true`...)
	}
	return append(b, '}')
}

// slab hands out small byte slices (keys, positions) cut from large blocks,
// one allocation per block instead of two per record.
type slab struct{ buf []byte }

const slabSize = 64 << 10

// add appends what f writes and returns it as its own slice (capacity
// capped, so appending to it never touches a neighbour).
func (sl *slab) add(f func(b []byte) ([]byte, error)) ([]byte, error) {
	if cap(sl.buf)-len(sl.buf) < 512 {
		sl.buf = make([]byte, 0, slabSize)
	}
	start := len(sl.buf)
	out, err := f(sl.buf)
	if err != nil {
		return nil, err
	}
	if cap(out) != cap(sl.buf) || &out[:1][0] != &sl.buf[:1][0] {
		// f outgrew the block: keep its own copy, start a fresh block.
		own := append([]byte(nil), out[start:]...)
		sl.buf = make([]byte, 0, slabSize)
		return own, nil
	}
	sl.buf = out
	return out[start:len(out):len(out)], nil
}
