package http

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "a,]\"" ,{"x":[1,{"y":"]"}]}, null ,true] `, `[[],[[]],{}]`, `[1,`, `{"a":1}`, `["\\"]`, `[ ]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := splitArray(body)
		var want []json.RawMessage
		werr := json.Unmarshal(body, &want)
		if werr != nil || bytes.TrimSpace(body)[0] != '[' {
			if err == nil {
				t.Fatalf("splitArray(%q) accepted what encoding/json rejects: %v", body, werr)
			}
			return
		}
		if err != nil {
			t.Fatalf("splitArray(%q): %v", body, err)
		}
		if len(got) != len(want) {
			t.Fatalf("splitArray(%q) = %d elements, want %d", body, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], bytes.TrimSpace(want[i])) {
				t.Fatalf("element %d = %q, want %q", i, got[i], want[i])
			}
		}
	})
}
