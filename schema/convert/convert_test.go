package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/schema"
)

var ctx = context.Background()

func mustNew(t testing.TB, name string, opts map[string]any) Converter {
	t.Helper()
	Builtin()
	c, err := New(name, opts, Env{})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	return c
}

func TestJSONDecodeNumbers(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "json", nil)
	m, s, err := c.Decode(ctx, "t", []byte(`{"i":42,"neg":-7,"f":1.5,"big":123456789012345678901234,"exact":0.12345678901234567890,"e":1e3,"l":[1,2.5],"o":{"n":1}}`))
	if err != nil || s != nil {
		t.Fatal(err, s)
	}
	want := map[string]any{"i": int64(42), "neg": int64(-7), "f": 1.5, "big": schema.Decimal("123456789012345678901234"),
		"exact": schema.Decimal("0.12345678901234567890"), "e": 1000.0, "l": []any{int64(1), 2.5}, "o": map[string]any{"n": int64(1)}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got  %#v\nwant %#v", m, want)
	}
	d := mustNew(t, "json", map[string]any{"numbers": "decimal"})
	m, _, err = d.Decode(ctx, "t", []byte(`{"price":19.90,"qty":3}`))
	if err != nil || m["price"] != schema.Decimal("19.90") || m["qty"] != int64(3) {
		t.Fatalf("decimal mode: %#v %v", m, err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "json", nil)
	for _, in := range []string{
		`{}`,
		`{"a":1,"b":"x\"y\\z\n\u0001<&>","c":[true,false,null],"d":{"e":-0.5,"f":1e+21,"g":1e-7}}`,
		`{"big":123456789012345678901234,"exact":3.14159265358979323846,"u":"Zoë \u2028"}`,
	} {
		m, _, err := c.Decode(ctx, "t", []byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := c.Encode(ctx, "t", m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != in {
			t.Errorf("round trip changed bytes:\n in  %s\n out %s", in, out)
		}
	}
}

// The hand-written encoder must write what encoding/json writes.
func TestJSONEncodeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "json", nil)
	v := map[string]any{"s": "tab\t ctl\x1f bad\xff html<>& ls\u2028 ps\u2029 quote\" \b\f", "f": []any{0.0, -1.25, 1e20, 1e21, 123e-9, 5e-324, float32(0.1)},
		"i": []any{int64(-9), 7, int32(3)}, "b": []byte{0, 1, 255}, "t": time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
		"n": nil, "m": map[string]any{"z": 1, "a": []any{}}, "other": struct{ X int }{3}}
	got, err := c.Encode(ctx, "t", v, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); string(got) != string(want) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if out, _ := c.Encode(ctx, "t", map[string]any{"d": schema.Decimal("-12.50")}, nil); string(out) != `{"d":-12.50}` {
		t.Fatalf("decimal: %s", out)
	}
	if out, err := c.Encode(ctx, "t", nil, nil); out != nil || err != nil {
		t.Fatalf("tombstone: %q %v", out, err)
	}
}

func TestJSONErrors(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "json", nil)
	for in, want := range map[string]string{
		``:              "empty",
		`[1,2]`:         `starts with "[1,2]", not a JSON object`,
		`"x"`:           "not a JSON object",
		`{"a":1`:        "invalid JSON",
		`{"a":1} {}`:    "after the object at byte 7",
		`{"a":tru}`:     "invalid JSON at byte",
		`{"a":[1e999]}`: `field "a": item 0: number 1e999 is out of range`,
	} {
		_, _, err := c.Decode(ctx, "t", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "json: ") {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	for _, v := range []map[string]any{{"x": map[string]any{"f": []any{1.0, func() {}}}}, {"nan": schema.Decimal("1e")}} {
		if _, err := c.Encode(ctx, "t", v, nil); err == nil {
			t.Errorf("encoded %v", v)
		}
	}
	_, err := c.Encode(ctx, "t", map[string]any{"x": map[string]any{"y": []any{1, func() {}}}}, nil)
	if err == nil || !strings.Contains(err.Error(), `field "x": field "y": item 1`) {
		t.Errorf("error should name the path: %v", err)
	}
}

func TestInferSchema(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "json", map[string]any{"infer_schema": true})
	_, s, err := c.Decode(ctx, "orders", []byte(`{"id":1,"amount":12.345678901234567,"ok":true,"tags":["a",null],"n":null,"items":[{"q":1}],"mixed":[1,"a"],"ds":[1.50,22.123456789012345678]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := &schema.Schema{Name: "orders", Fields: []schema.Field{
		{Name: "amount", Type: schema.DecimalT, Precision: 17, Scale: 15},
		{Name: "ds", Type: schema.Array, Items: &schema.Field{Type: schema.JSON, Optional: true}},
		{Name: "id", Type: schema.Int64},
		{Name: "items", Type: schema.Array, Items: &schema.Field{Type: schema.Struct, Fields: []schema.Field{{Name: "q", Type: schema.Int64}}}},
		{Name: "mixed", Type: schema.Array, Items: &schema.Field{Type: schema.JSON, Optional: true}},
		{Name: "n", Type: schema.JSON, Optional: true},
		{Name: "ok", Type: schema.Boolean},
		{Name: "tags", Type: schema.Array, Items: &schema.Field{Type: schema.String, Optional: true}},
	}}
	if !reflect.DeepEqual(s, want) {
		gotJ, _ := json.Marshal(s)
		wantJ, _ := json.Marshal(want)
		t.Fatalf("got  %s\nwant %s", gotJ, wantJ)
	}
	if _, _, err := c.Decode(ctx, "t", []byte(`{"a":[{"":1}]}`)); err == nil || !strings.Contains(err.Error(), `field "a": item 0: a field name is empty`) {
		t.Fatalf("empty name: %v", err)
	}
	ds, _ := InferSchema("x", map[string]any{"d": []any{schema.Decimal("1.5"), schema.Decimal("-123.25")}})
	if it := ds.Fields[0].Items; it.Type != schema.DecimalT || it.Precision != 5 || it.Scale != 2 {
		t.Fatalf("decimal list: %+v", it)
	}
}

func TestOpaque(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"string", "bytes"} {
		c := mustNew(t, name, nil)
		m, s, err := c.Decode(ctx, "t", []byte("hello"))
		if m != nil || s != nil || err != nil || c.Name() != name {
			t.Fatalf("%s: %v %v %v", name, m, s, err)
		}
		out, err := c.Encode(ctx, "t", map[string]any{"a": int64(1)}, nil)
		if err != nil || string(out) != `{"a":1}` {
			t.Fatalf("%s encode: %s %v", name, out, err)
		}
	}
	if _, _, err := mustNew(t, "string", nil).Decode(ctx, "t", []byte("ok\xffno")); err == nil || !strings.Contains(err.Error(), "byte at 2") {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, _, err := mustNew(t, "bytes", nil).Decode(ctx, "t", []byte("ok\xffno")); err != nil {
		t.Fatal(err)
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	Builtin()
	for _, c := range []struct {
		name string
		opts map[string]any
		want string
	}{
		{"json", map[string]any{"numbrs": "auto"}, "option numbrs: unknown option"},
		{"json", map[string]any{"numbers": "exact"}, "option numbers: must be auto or decimal"},
		{"json", map[string]any{"infer_schema": "yes"}, "option infer_schema: must be true or false"},
		{"string", map[string]any{"x": 1}, "converter string: option x"},
		{"csv", nil, "option columns: give columns"},
		{"csv", map[string]any{"columns": []any{"a", "a"}}, `column 1: name "a" is empty or repeated`},
		{"csv", map[string]any{"columns": "a"}, "option columns: must be a list"},
		{"csv", map[string]any{"columns": []any{"a"}, "types": map[string]any{"a": "money"}}, "option types.a: must be one of"},
		{"csv", map[string]any{"columns": []any{"a"}, "types": map[string]any{"b": "int64"}}, "option types.b: is not one of the columns"},
		{"csv", map[string]any{"header": true, "delimiter": ";;"}, "option delimiter"},
	} {
		_, err := New(c.name, c.opts, Env{})
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.name, c.opts, err, c.want)
		}
	}
	if _, err := New("yaml", nil, Env{}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown: %v", err)
	}
	if got := Names(); !reflect.DeepEqual(got[:0], []string{}) && len(got) < 4 {
		t.Fatalf("names %v", got)
	}
}
