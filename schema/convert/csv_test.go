package convert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/schema"
)

func TestCSVRoundTripAndQuoting(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "csv", map[string]any{"columns": []any{"id", "name", "note"}})
	for _, line := range []string{
		`1,plain,x`,
		`2,"with, comma","with ""quotes"""`,
		"3,\"multi\nline\",",
		`4," spaced ","  "`,
		`5,Zoë,`,
	} {
		m, s, err := c.Decode(ctx, "t", []byte(line+"\n"))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(s.Fields) != 3 || s.Fields[1].Name != "name" {
			t.Fatalf("schema %+v", s)
		}
		out, err := c.Encode(ctx, "t", m, s)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != line {
			t.Errorf("round trip:\n in  %q\n out %q", line, out)
		}
	}
	m, _, _ := c.Decode(ctx, "t", []byte(`2,"with, comma","with ""quotes"""`))
	if want := map[string]any{"id": "2", "name": "with, comma", "note": `with "quotes"`}; !reflect.DeepEqual(m, want) {
		t.Fatalf("cells %#v", m)
	}
}

func TestCSVTypes(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "csv", map[string]any{"columns": []any{"id", "amount", "ok", "rate", "day", "at", "who"}, "delimiter": ";",
		"types": map[string]any{"id": "int64", "amount": "decimal", "ok": "boolean", "rate": "float64", "day": "date", "at": "timestamp"}})
	m, s, err := c.Decode(ctx, "t", []byte("7;-12.50;true;0.25;2024-05-01;2024-05-01T10:00:00Z;ann"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": int64(7), "amount": schema.Decimal("-12.50"), "ok": true, "rate": 0.25,
		"day": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "at": time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), "who": "ann"}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v", m)
	}
	if f := s.Field("amount"); f.Type != schema.DecimalT || !f.Optional || s.Field("who").Type != schema.String {
		t.Fatalf("schema %+v", s)
	}
	out, err := c.Encode(ctx, "t", m, s)
	if err != nil || string(out) != "7;-12.50;true;0.25;2024-05-01;2024-05-01T10:00:00Z;ann" {
		t.Fatalf("encode %q %v", out, err)
	}
	m, _, err = c.Decode(ctx, "t", []byte(";;;;;;"))
	if err != nil || m["id"] != nil || m["who"] != "" {
		t.Fatalf("empty cells: %#v %v", m, err)
	}
}

func TestCSVErrors(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "csv", map[string]any{"columns": []any{"a", "b"}, "types": map[string]any{"b": "int64"}})
	for in, want := range map[string]string{
		"1,2,3":    "line has 3 fields, expected 2 (a, b)",
		"1":        "line has 1 fields, expected 2",
		"1,x":      `column "b": "x" is not a valid int64`,
		"1,2\n3,4": "more than one line",
		"":         "line is empty",
		`"1,2`:     "extraneous or missing",
		`1,2"x"`:   "bare \"",
	} {
		_, _, err := c.Decode(ctx, "t", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "csv: ") {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	if _, err := c.Encode(ctx, "t", map[string]any{"a": 1, "zz": 2}, nil); err == nil || !strings.Contains(err.Error(), `field "zz" is not one of the columns (a, b)`) {
		t.Errorf("unknown field: %v", err)
	}
}

func TestCSVHeader(t *testing.T) {
	t.Parallel()
	c := mustNew(t, "csv", map[string]any{"header": true, "types": map[string]any{"qty": "int64"}})
	if _, _, err := c.Decode(ctx, "a", []byte("sku,qty\r\n")); !errors.Is(err, ErrHeader) {
		t.Fatalf("header line: %v", err)
	}
	m, _, err := c.Decode(ctx, "a", []byte("x-1,3"))
	if err != nil || m["sku"] != "x-1" || m["qty"] != int64(3) {
		t.Fatalf("row: %#v %v", m, err)
	}
	// the header repeated (a second file on the same topic) is skipped too
	if _, _, err := c.Decode(ctx, "a", []byte("sku,qty")); !errors.Is(err, ErrHeader) {
		t.Fatalf("repeated header: %v", err)
	}
	// topics learn their own headers
	if _, _, err := c.Decode(ctx, "b", []byte("x,y")); !errors.Is(err, ErrHeader) {
		t.Fatal(err)
	}
	if h := c.(HeaderWriter).Header("a"); string(h) != "sku,qty" {
		t.Fatalf("header %q", h)
	}
	if h := c.(HeaderWriter).Header("unknown"); h != nil {
		t.Fatalf("header of unknown topic %q", h)
	}
	// without columns or header, Encode takes the schema's order, then sorted names
	free := &csvConverter{comma: ','}
	out, _ := free.Encode(ctx, "t", map[string]any{"b": 1, "a": "x y"}, nil)
	s := &schema.Schema{Fields: []schema.Field{{Name: "b"}, {Name: "a"}}}
	out2, _ := free.Encode(ctx, "t", map[string]any{"b": 1, "a": "x y"}, s)
	if string(out) != "x y,1" || string(out2) != "1,x y" {
		t.Fatalf("%q %q", out, out2)
	}
}
