package registry

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// finishes fails the whole test binary when fn runs longer than d: a check
// that never ends would otherwise eat the machine's memory before -timeout.
func finishes(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		panic(fmt.Sprintf("%s: did not finish within %s: the check does not terminate", t.Name(), d))
	}
}

// recursiveCases are schemas that refer to themselves: a JSON Schema "$ref":
// "#", an Avro record naming itself, Protobuf messages that contain
// themselves. Every check must end, and with the right verdict.
var recursiveCases = []compatCase{
	{"json recursive object integer to string", JSON, Backward,
		[]string{`{"type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"integer"}}}`},
		`{"type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"string"}}}`, "TYPE_CHANGED"},
	{"json recursive object unchanged but for a title", JSON, FullTransitive,
		[]string{`{"type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"integer"}}}`},
		`{"title":"node","type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"integer"}}}`, ""},
	{"json recursive object integer to number", JSON, Backward,
		[]string{`{"type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"integer"}}}`},
		`{"type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"number"}}}`, ""},
	{"json recursive array maxItems added", JSON, Backward,
		[]string{`{"type":"array","items":{"$ref":"#"}}`},
		`{"type":"array","items":{"$ref":"#"},"maxItems":3}`, "MAX_ITEMS_ADDED"},
	{"json recursive array maxItems added forward", JSON, Forward,
		[]string{`{"type":"array","items":{"$ref":"#"}}`},
		`{"type":"array","items":{"$ref":"#"},"maxItems":3}`, ""},
	{"json mutually recursive definitions", JSON, Backward,
		[]string{`{"definitions":{"a":{"type":"object","properties":{"b":{"$ref":"#/definitions/b"}}},"b":{"type":"object","properties":{"a":{"$ref":"#/definitions/a"},"n":{"type":"integer"}}}},"$ref":"#/definitions/a"}`},
		`{"definitions":{"a":{"type":"object","properties":{"b":{"$ref":"#/definitions/b"}}},"b":{"type":"object","properties":{"a":{"$ref":"#/definitions/a"},"n":{"type":"string"}}}},"$ref":"#/definitions/a"}`, "TYPE_CHANGED"},
	{"json recursion under anyOf", JSON, Backward,
		[]string{`{"anyOf":[{"type":"null"},{"type":"object","properties":{"next":{"$ref":"#"},"v":{"type":"integer"}}}]}`},
		`{"anyOf":[{"type":"null"},{"type":"object","properties":{"next":{"$ref":"#"},"v":{"type":"string"}}}]}`, "COMBINED_TYPE_SUBSCHEMAS_CHANGED"},

	{"avro linked list int to string", Avro, Backward,
		[]string{`{"type":"record","name":"Node","namespace":"t","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`},
		`{"type":"record","name":"Node","namespace":"t","fields":[{"name":"v","type":"string"},{"name":"next","type":["null","Node"]}]}`, "TYPE_MISMATCH"},
	{"avro linked list int to long", Avro, Backward,
		[]string{`{"type":"record","name":"Node","namespace":"t","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`},
		`{"type":"record","name":"Node","namespace":"t","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"]}]}`, ""},
	{"avro tree through array and map", Avro, Full,
		[]string{`{"type":"record","name":"Tree","namespace":"t","fields":[{"name":"kids","type":{"type":"array","items":"Tree"}},{"name":"tags","type":{"type":"map","values":"Tree"}}]}`},
		`{"type":"record","name":"Tree","namespace":"t","fields":[{"name":"kids","type":{"type":"array","items":"Tree"}},{"name":"tags","type":{"type":"map","values":"Tree"}},{"name":"n","type":"int","default":0}]}`, ""},

	{"proto recursive message int32 to string", Protobuf, Backward,
		[]string{protoMsg(`message Node { Node next = 1; int32 v = 2; }`)},
		protoMsg(`message Node { Node next = 1; string v = 2; }`), "FIELD_SCALAR_KIND_CHANGED"},
	{"proto mutually recursive messages", Protobuf, Full,
		[]string{protoMsg(`message A { B b = 1; } message B { A a = 1; repeated B kids = 2; }`)},
		protoMsg(`message A { B b = 1; int64 n = 2; } message B { A a = 1; repeated B kids = 2; }`), ""},
}

func TestRecursiveSchemasTerminate(t *testing.T) {
	t.Parallel()
	for _, tc := range recursiveCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(NewMemStore(), nil)
			ctx := ctxT(t)
			if err := r.SetCompatibility(ctx, "s", tc.level); err != nil {
				t.Fatal(err)
			}
			for _, old := range tc.old {
				mustRegister(t, r, "s", Schema{Schema: old, Type: tc.format})
			}
			var reasons []string
			var err error
			start := time.Now()
			finishes(t, 10*time.Second, func() {
				reasons, err = r.CheckCompatibility(ctx, "s", 0, Schema{Schema: tc.new, Type: tc.format})
				if err == nil {
					// Registering runs the same check, then stores or refuses.
					_, err = r.Register(ctx, "s", Schema{Schema: tc.new, Type: tc.format}, RegisterOptions{})
					if tc.rule != "" {
						wantCode(t, err, CodeIncompatibleSchema)
						err = nil
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("check took %s", d)
			}
			tc.wantVerdict(t, reasons)
		})
	}
}

// TestCompatibilityWorkIsBounded: a check whose work grows with the product
// of two wide anyOf lists stops at the step budget with 42201 instead of
// running for as long as the schemas ask.
func TestCompatibilityWorkIsBounded(t *testing.T) {
	t.Parallel()
	alts := func(typ string, n int) string {
		var b strings.Builder
		b.WriteString(`{"anyOf":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":%q,"title":"t%d"}`, typ, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	r := New(NewMemStore(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mustRegister(t, r, "wide", Schema{Schema: alts("string", 800), Type: JSON})
	// The step budget is the bound (the error says so); the deadline only
	// catches a check that never ends, with room for a loaded machine
	// under the race detector.
	finishes(t, 90*time.Second, func() {
		_, err := r.CheckCompatibility(ctx, "wide", 0, Schema{Schema: alts("integer", 800), Type: JSON})
		wantCode(t, err, CodeInvalidSchema)
		if !strings.Contains(err.Error(), "steps") {
			t.Errorf("message does not say the check was too large: %v", err)
		}
	})
}

// TestSchemaTextBounds: a schema too large or too deeply nested is refused
// with 42201 before a parser sees it; ordinary nesting passes.
func TestSchemaTextBounds(t *testing.T) {
	t.Parallel()
	nestedJSON := func(n int) string {
		return strings.Repeat(`{"type":"array","items":`, n) + `{"type":"string"}` + strings.Repeat(`}`, n)
	}
	nestedProto := func(n int) string {
		return protoMsg(strings.Repeat("message M { ", n) + strings.Repeat("} ", n))
	}
	optionProto := func(n int) string {
		// Aggregate option values nest without protocompile's message limit.
		return "syntax = \"proto3\";\nimport \"google/protobuf/descriptor.proto\";\n" +
			"message O { O o = 1; }\nextend google.protobuf.MessageOptions { O opt = 50000; }\n" +
			"message M { option (opt) = " + strings.Repeat("{ o ", n) + "{ }" + strings.Repeat(" }", n) + "; }"
	}
	big := `{"type":"string","description":"` + strings.Repeat("x", maxSchemaBytes) + `"}`
	cases := []struct {
		name   string
		format Format
		text   string
		ok     bool
	}{
		{"json 100 levels", JSON, nestedJSON(100), true},
		{"json 300 levels", JSON, nestedJSON(300), false},
		{"proto 20 levels", Protobuf, nestedProto(20), true},
		{"proto 300 levels", Protobuf, nestedProto(300), false},
		{"proto options 100 levels", Protobuf, optionProto(100), true},
		{"proto options 300 levels", Protobuf, optionProto(300), false},
		{"proto braces in comments and strings", Protobuf, protoMsg("// {{{{\n/* [[[[ */ message M { string s = 1 [json_name = \"{{{{\"]; }"), true},
		{"avro 300 levels", Avro, strings.Repeat(`{"type":"array","items":`, 300) + `"int"` + strings.Repeat(`}`, 300), false},
		{"larger than 1 MiB", JSON, big, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(NewMemStore(), nil)
			_, err := r.Register(ctxT(t), "s", Schema{Schema: tc.text, Type: tc.format}, RegisterOptions{})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, CodeInvalidSchema)
		})
	}
}

// TestMisalignedCyclesAreBounded: two recursive schemas whose cycles have
// coprime lengths (300 and 299 definitions) meet a new pair of nodes at every
// level for 89,700 levels, each with a longer path: the check stops at its
// depth limit with 42201 instead of exhausting memory.
func TestMisalignedCyclesAreBounded(t *testing.T) {
	t.Parallel()
	cycle := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"$ref":"#/definitions/d0","definitions":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"d%d":{"type":"object","properties":{"c":{"$ref":"#/definitions/d%d"}}}`, i, (i+1)%n)
		}
		b.WriteString(`}}`)
		return b.String()
	}
	r := New(NewMemStore(), nil)
	ctx := ctxT(t)
	mustRegister(t, r, "cycles", Schema{Schema: cycle(300), Type: JSON})
	finishes(t, 20*time.Second, func() {
		_, err := r.CheckCompatibility(ctx, "cycles", 0, Schema{Schema: cycle(299), Type: JSON})
		wantCode(t, err, CodeInvalidSchema)
		if !strings.Contains(err.Error(), "levels") {
			t.Errorf("message does not say the check went too deep: %v", err)
		}
	})
	// Cycles of equal length realign at once.
	reasons, err := r.CheckCompatibility(ctx, "cycles", 0, Schema{Schema: cycle(300), Type: JSON})
	if err != nil || len(reasons) > 0 {
		t.Fatalf("same schema: %v %v", reasons, err)
	}
}
