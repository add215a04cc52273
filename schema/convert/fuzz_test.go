package convert

import (
	"bytes"
	"testing"
)

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1.5,"x",null,{"c":true}]}`, `{"n":123456789012345678901234567890}`, `[1]`, `{"a":1e999}`, `{`} {
		f.Add([]byte(s))
	}
	c := &jsonConverter{infer: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, s, err := c.Decode(ctx, "t", data)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("inferred schema invalid: %v", err)
		}
		// what decodes must encode, and encode to something that decodes the same
		out, err := c.Encode(ctx, "t", m, s)
		if err != nil {
			t.Fatalf("encode %q: %v", data, err)
		}
		m2, _, err := c.Decode(ctx, "t", out)
		if err != nil {
			t.Fatalf("re-decode %q: %v", out, err)
		}
		out2, _ := c.Encode(ctx, "t", m2, nil)
		if !bytes.Equal(out, out2) {
			t.Fatalf("unstable encoding: %q then %q", out, out2)
		}
	})
}

func FuzzCSVDecode(f *testing.F) {
	for _, s := range []string{"1,x,2.5", `"a""b",,`, "1,2\n3,4", "", `"`, "a;b"} {
		f.Add([]byte(s))
	}
	opts := map[string]any{"columns": []any{"id", "name", "amount"}, "types": map[string]any{"amount": "decimal"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := mustNew(t, "csv", opts)
		m, s, err := c.Decode(ctx, "t", data)
		if err != nil {
			return
		}
		out, err := c.Encode(ctx, "t", m, s)
		if err != nil {
			t.Fatalf("encode %q: %v", data, err)
		}
		m2, _, err := c.Decode(ctx, "t", out)
		if err != nil {
			t.Fatalf("re-decode %q (from %q): %v", out, data, err)
		}
		if len(m2) != len(m) {
			t.Fatalf("round trip lost cells: %v vs %v", m, m2)
		}
	})
}
