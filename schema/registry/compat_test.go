package registry

import (
	"strings"
	"testing"
)

// avroRec builds a record schema named R from field JSON.
func avroRec(fields ...string) string {
	return `{"type":"record","name":"R","namespace":"t","fields":[` + strings.Join(fields, ",") + `]}`
}

func protoMsg(body string) string {
	return "syntax = \"proto3\";\npackage t;\n" + body
}

func jsonObj(props string, extra string) string {
	s := `{"type":"object","properties":{` + props + `}`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

type compatCase struct {
	name   string
	format Format
	level  Level
	old    []string // earlier versions, oldest first
	new    string
	rule   string // expected rule in the reasons; "" means compatible
}

// wantVerdict fails t unless reasons give the case's verdict.
func (tc compatCase) wantVerdict(t *testing.T, reasons []string) {
	t.Helper()
	got := strings.Join(reasons, "\n")
	switch {
	case tc.rule == "" && len(reasons) > 0:
		t.Fatalf("want compatible, got:\n%s", got)
	case tc.rule != "" && !strings.Contains(got, tc.rule):
		t.Fatalf("want %s, got:\n%s", tc.rule, got)
	}
}

// compatCases come from the Avro specification's schema-resolution rules,
// Confluent's Protobuf rules and its JSON Schema content-model rules.
var compatCases = []compatCase{
	// Avro: fields and defaults.
	{"avro add field with default", Avro, Backward, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"string","default":""}`), ""},
	{"avro add field without default", Avro, Backward, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"string"}`), "READER_FIELD_MISSING_DEFAULT_VALUE"},
	{"avro remove field", Avro, Backward, []string{avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int"}`)}, avroRec(`{"name":"a","type":"int"}`), ""},
	{"avro forward remove field without default", Avro, Forward, []string{avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int"}`)}, avroRec(`{"name":"a","type":"int"}`), "READER_FIELD_MISSING_DEFAULT_VALUE"},
	{"avro forward remove field with default", Avro, Forward, []string{avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int","default":1}`)}, avroRec(`{"name":"a","type":"int"}`), ""},
	{"avro forward add field without default", Avro, Forward, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int"}`), ""},
	{"avro full add field with default", Avro, Full, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int","default":0}`), ""},
	{"avro full add field without default", Avro, Full, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int"}`), "READER_FIELD_MISSING_DEFAULT_VALUE"},
	{"avro field alias", Avro, Backward, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"b","type":"int","aliases":["a"]}`), ""},
	// Avro: promotions.
	{"avro int to long", Avro, Backward, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"long"}`), ""},
	{"avro long to int", Avro, Backward, []string{avroRec(`{"name":"a","type":"long"}`)}, avroRec(`{"name":"a","type":"int"}`), "TYPE_MISMATCH"},
	{"avro forward int to long", Avro, Forward, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"long"}`), "TYPE_MISMATCH"},
	{"avro float to double", Avro, Backward, []string{avroRec(`{"name":"a","type":"float"}`)}, avroRec(`{"name":"a","type":"double"}`), ""},
	{"avro long to float", Avro, Backward, []string{avroRec(`{"name":"a","type":"long"}`)}, avroRec(`{"name":"a","type":"float"}`), ""},
	{"avro string to bytes", Avro, Full, []string{avroRec(`{"name":"a","type":"string"}`)}, avroRec(`{"name":"a","type":"bytes"}`), ""},
	{"avro string to int", Avro, Backward, []string{avroRec(`{"name":"a","type":"string"}`)}, avroRec(`{"name":"a","type":"int"}`), "TYPE_MISMATCH"},
	// Avro: enums, fixed, names.
	{"avro enum add symbol", Avro, Backward, []string{avroRec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}`)}, avroRec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}`), ""},
	{"avro enum remove symbol", Avro, Backward, []string{avroRec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}`)}, avroRec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}`), "MISSING_ENUM_SYMBOLS"},
	{"avro enum remove symbol with default", Avro, Backward, []string{avroRec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}`)}, avroRec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A"],"default":"A"}}`), ""},
	{"avro fixed size", Avro, Backward, []string{avroRec(`{"name":"f","type":{"type":"fixed","name":"F","size":4}}`)}, avroRec(`{"name":"f","type":{"type":"fixed","name":"F","size":8}}`), "FIXED_SIZE_MISMATCH"},
	{"avro record renamed", Avro, Backward, []string{avroRec(`{"name":"a","type":"int"}`)}, `{"type":"record","name":"S","namespace":"t","fields":[{"name":"a","type":"int"}]}`, "NAME_MISMATCH"},
	{"avro record renamed with alias", Avro, Backward, []string{avroRec(`{"name":"a","type":"int"}`)}, `{"type":"record","name":"S","namespace":"t","aliases":["t.R"],"fields":[{"name":"a","type":"int"}]}`, ""},
	// Avro: unions, arrays, maps.
	{"avro make optional", Avro, Backward, []string{avroRec(`{"name":"a","type":"string"}`)}, avroRec(`{"name":"a","type":["null","string"]}`), ""},
	{"avro make required", Avro, Backward, []string{avroRec(`{"name":"a","type":["null","string"]}`)}, avroRec(`{"name":"a","type":"string"}`), "TYPE_MISMATCH"},
	{"avro add union branch", Avro, Backward, []string{avroRec(`{"name":"a","type":["null","string"]}`)}, avroRec(`{"name":"a","type":["null","string","int"]}`), ""},
	{"avro forward add union branch", Avro, Forward, []string{avroRec(`{"name":"a","type":["null","string"]}`)}, avroRec(`{"name":"a","type":["null","string","int"]}`), "MISSING_UNION_BRANCH"},
	{"avro array items promoted", Avro, Backward, []string{avroRec(`{"name":"a","type":{"type":"array","items":"int"}}`)}, avroRec(`{"name":"a","type":{"type":"array","items":"long"}}`), ""},
	{"avro map values changed", Avro, Backward, []string{avroRec(`{"name":"a","type":{"type":"map","values":"string"}}`)}, avroRec(`{"name":"a","type":{"type":"map","values":"int"}}`), "TYPE_MISMATCH"},
	// Avro: levels over several versions.
	{"avro backward checks only latest", Avro, Backward, []string{avroRec(`{"name":"a","type":"string"}`), avroRec()}, avroRec(`{"name":"a","type":"int","default":0}`), ""},
	{"avro backward transitive checks all", Avro, BackwardTransitive, []string{avroRec(`{"name":"a","type":"string"}`), avroRec()}, avroRec(`{"name":"a","type":"int","default":0}`), "TYPE_MISMATCH"},
	{"avro forward transitive", Avro, ForwardTransitive, []string{avroRec(`{"name":"a","type":"int"}`), avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int","default":0}`)}, avroRec(`{"name":"b","type":"int"}`), "READER_FIELD_MISSING_DEFAULT_VALUE"},
	{"avro full transitive ok", Avro, FullTransitive, []string{avroRec(`{"name":"a","type":"int"}`), avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int","default":0}`)}, avroRec(`{"name":"a","type":"int"}`, `{"name":"b","type":"int","default":0}`, `{"name":"c","type":"int","default":0}`), ""},
	{"avro none accepts anything", Avro, None, []string{avroRec(`{"name":"a","type":"int"}`)}, avroRec(`{"name":"a","type":"string"}`), ""},

	// Protobuf.
	{"proto add field", Protobuf, Backward, []string{protoMsg(`message M { int32 a = 1; }`)}, protoMsg(`message M { int32 a = 1; string b = 2; }`), ""},
	{"proto remove field", Protobuf, Full, []string{protoMsg(`message M { int32 a = 1; string b = 2; }`)}, protoMsg(`message M { int32 a = 1; }`), ""},
	{"proto rename field", Protobuf, Full, []string{protoMsg(`message M { int32 a = 1; }`)}, protoMsg(`message M { int32 renamed = 1; }`), ""},
	{"proto int32 to int64", Protobuf, Full, []string{protoMsg(`message M { int32 a = 1; }`)}, protoMsg(`message M { int64 a = 1; }`), ""},
	{"proto string to bytes", Protobuf, Full, []string{protoMsg(`message M { string a = 1; }`)}, protoMsg(`message M { bytes a = 1; }`), ""},
	{"proto int32 to string", Protobuf, Backward, []string{protoMsg(`message M { int32 a = 1; }`)}, protoMsg(`message M { string a = 1; }`), "FIELD_SCALAR_KIND_CHANGED"},
	{"proto sint32 to int32", Protobuf, Backward, []string{protoMsg(`message M { sint32 a = 1; }`)}, protoMsg(`message M { int32 a = 1; }`), "FIELD_SCALAR_KIND_CHANGED"},
	{"proto fixed32 to sfixed32", Protobuf, Full, []string{protoMsg(`message M { fixed32 a = 1; }`)}, protoMsg(`message M { sfixed32 a = 1; }`), ""},
	{"proto scalar to message", Protobuf, Backward, []string{protoMsg(`message N {} message M { int32 a = 1; }`)}, protoMsg(`message N {} message M { N a = 1; }`), "FIELD_KIND_CHANGED"},
	{"proto message type changed", Protobuf, Backward, []string{protoMsg(`message N {} message O {} message M { N a = 1; }`)}, protoMsg(`message N {} message O {} message M { O a = 1; }`), "FIELD_NAMED_TYPE_CHANGED"},
	{"proto message removed", Protobuf, Backward, []string{protoMsg(`message M { int32 a = 1; } message N {}`)}, protoMsg(`message M { int32 a = 1; }`), "MESSAGE_REMOVED"},
	{"proto message added", Protobuf, Backward, []string{protoMsg(`message M { int32 a = 1; }`)}, protoMsg(`message M { int32 a = 1; } message N {}`), ""},
	{"proto forward message added", Protobuf, Forward, []string{protoMsg(`message M { int32 a = 1; }`)}, protoMsg(`message M { int32 a = 1; } message N {}`), "MESSAGE_REMOVED"},
	{"proto package changed", Protobuf, Backward, []string{protoMsg(`message M {}`)}, "syntax = \"proto3\";\npackage u;\nmessage M {}", "PACKAGE_CHANGED"},
	{"proto required added", Protobuf, Backward, []string{"syntax = \"proto2\"; message M { optional int32 a = 1; }"}, "syntax = \"proto2\"; message M { optional int32 a = 1; required int32 b = 2; }", "REQUIRED_FIELD_ADDED"},
	{"proto required removed", Protobuf, Backward, []string{"syntax = \"proto2\"; message M { required int32 a = 1; }"}, "syntax = \"proto2\"; message M { }", "REQUIRED_FIELD_REMOVED"},
	{"proto moved to existing oneof", Protobuf, Backward, []string{protoMsg(`message M { int32 a = 1; oneof o { string b = 2; } }`)}, protoMsg(`message M { oneof o { string b = 2; int32 a = 1; } }`), "FIELD_MOVED_TO_EXISTING_ONEOF"},
	{"proto one field moved to new oneof", Protobuf, Backward, []string{protoMsg(`message M { int32 a = 1; }`)}, protoMsg(`message M { oneof o { int32 a = 1; } }`), ""},
	{"proto two fields moved to new oneof", Protobuf, Backward, []string{protoMsg(`message M { int32 a = 1; int32 b = 2; }`)}, protoMsg(`message M { oneof o { int32 a = 1; int32 b = 2; } }`), "MULTIPLE_FIELDS_MOVED_TO_ONEOF"},
	{"proto oneof field removed", Protobuf, Backward, []string{protoMsg(`message M { oneof o { int32 a = 1; int32 b = 2; } }`)}, protoMsg(`message M { oneof o { int32 a = 1; } }`), "ONEOF_FIELD_REMOVED"},
	{"proto nested message field changed", Protobuf, Backward, []string{protoMsg(`message M { message I { int32 x = 1; } }`)}, protoMsg(`message M { message I { double x = 1; } }`), "FIELD_SCALAR_KIND_CHANGED"},

	// JSON Schema.
	{"json add property to open model", JSON, Backward, []string{jsonObj(`"a":{"type":"string"}`, "")}, jsonObj(`"a":{"type":"string"},"b":{"type":"integer"}`, ""), "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"},
	{"json forward add property to open model", JSON, Forward, []string{jsonObj(`"a":{"type":"string"}`, "")}, jsonObj(`"a":{"type":"string"},"b":{"type":"integer"}`, ""), ""},
	{"json add property to closed model", JSON, Backward, []string{jsonObj(`"a":{"type":"string"}`, `"additionalProperties":false`)}, jsonObj(`"a":{"type":"string"},"b":{"type":"integer"}`, `"additionalProperties":false`), ""},
	{"json remove property from open model", JSON, Backward, []string{jsonObj(`"a":{"type":"string"},"b":{"type":"integer"}`, "")}, jsonObj(`"a":{"type":"string"}`, ""), ""},
	{"json remove property from closed model", JSON, Backward, []string{jsonObj(`"a":{"type":"string"},"b":{"type":"integer"}`, `"additionalProperties":false`)}, jsonObj(`"a":{"type":"string"}`, `"additionalProperties":false`), "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
	{"json required added", JSON, Backward, []string{jsonObj(`"a":{"type":"string"}`, "")}, jsonObj(`"a":{"type":"string"}`, `"required":["a"]`), "REQUIRED_ATTRIBUTE_ADDED"},
	{"json required removed", JSON, Backward, []string{jsonObj(`"a":{"type":"string"}`, `"required":["a"]`)}, jsonObj(`"a":{"type":"string"}`, ""), ""},
	{"json integer to number", JSON, Backward, []string{jsonObj(`"a":{"type":"integer"}`, "")}, jsonObj(`"a":{"type":"number"}`, ""), ""},
	{"json number to integer", JSON, Backward, []string{jsonObj(`"a":{"type":"number"}`, "")}, jsonObj(`"a":{"type":"integer"}`, ""), "TYPE_CHANGED"},
	{"json type widened", JSON, Backward, []string{jsonObj(`"a":{"type":"string"}`, "")}, jsonObj(`"a":{"type":["string","null"]}`, ""), ""},
	{"json forward type widened", JSON, Forward, []string{jsonObj(`"a":{"type":"string"}`, "")}, jsonObj(`"a":{"type":["string","null"]}`, ""), "TYPE_NARROWED"},
	{"json maxLength decreased", JSON, Backward, []string{jsonObj(`"a":{"type":"string","maxLength":10}`, "")}, jsonObj(`"a":{"type":"string","maxLength":5}`, ""), "MAX_LENGTH_DECREASED"},
	{"json maxLength increased", JSON, Backward, []string{jsonObj(`"a":{"type":"string","maxLength":5}`, "")}, jsonObj(`"a":{"type":"string","maxLength":10}`, ""), ""},
	{"json minimum increased", JSON, Backward, []string{jsonObj(`"a":{"type":"integer","minimum":0}`, "")}, jsonObj(`"a":{"type":"integer","minimum":1}`, ""), "MINIMUM_INCREASED"},
	{"json enum value added", JSON, Backward, []string{jsonObj(`"a":{"enum":["x","y"]}`, "")}, jsonObj(`"a":{"enum":["x","y","z"]}`, ""), ""},
	{"json enum value removed", JSON, Backward, []string{jsonObj(`"a":{"enum":["x","y"]}`, "")}, jsonObj(`"a":{"enum":["x"]}`, ""), "ENUM_ARRAY_NARROWED"},
	{"json additionalProperties false added", JSON, Backward, []string{jsonObj(`"a":{"type":"string"}`, "")}, jsonObj(`"a":{"type":"string"}`, `"additionalProperties":false`), "ADDITIONAL_PROPERTIES_REMOVED"},
	{"json array items changed", JSON, Backward, []string{`{"type":"array","items":{"type":"string"}}`}, `{"type":"array","items":{"type":"integer"}}`, "TYPE_CHANGED"},
	{"json local ref followed", JSON, Backward, []string{`{"definitions":{"n":{"type":"integer"}},"type":"object","properties":{"a":{"$ref":"#/definitions/n"}}}`}, `{"definitions":{"n":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/definitions/n"}}}`, "TYPE_CHANGED"},
	{"json full identical", JSON, FullTransitive, []string{jsonObj(`"a":{"type":"string"}`, ""), jsonObj(`"a":{"type":"string"}`, `"description":"x"`)}, jsonObj(`"a":{"type":"string"}`, ""), ""},
}

func TestCompatibilityTable(t *testing.T) {
	t.Parallel()
	if len(compatCases) < 40 {
		t.Fatalf("only %d cases", len(compatCases))
	}
	for _, tc := range compatCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(NewMemStore(), nil)
			ctx := ctxT(t)
			if err := r.SetCompatibility(ctx, "s", None); err != nil {
				t.Fatal(err)
			}
			for _, old := range tc.old {
				mustRegister(t, r, "s", Schema{Schema: old, Type: tc.format})
			}
			if err := r.SetCompatibility(ctx, "s", tc.level); err != nil {
				t.Fatal(err)
			}
			reasons, err := r.CheckCompatibility(ctx, "s", 0, Schema{Schema: tc.new, Type: tc.format})
			if err != nil {
				t.Fatal(err)
			}
			tc.wantVerdict(t, reasons)
		})
	}
}
