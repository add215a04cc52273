package transform

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

var ts = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func record(value string) *sdk.Record {
	r := &sdk.Record{Topic: "orders", Partition: 2, Offset: 41, Key: []byte("k1"), Timestamp: ts,
		Headers: sdk.Headers{{Key: "origin", Value: "web"}}}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

type tcase struct {
	name    string
	typ     string
	raw     any
	value   string         // record value JSON; "" for a tombstone
	keep    bool           // expected keep
	fields  map[string]any // expected Fields after Apply (nil: not checked)
	check   func(t *testing.T, r *sdk.Record)
	errLike string // expected record error text
}

func runCases(t *testing.T, cases []tcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.typ+"/"+c.name, func(t *testing.T) {
			t.Parallel()
			tr, err := Parse(c.typ, c.raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			rec := record(c.value)
			keep, err := tr.Apply(context.Background(), rec)
			if c.errLike != "" {
				var te *Error
				if !errors.As(err, &te) {
					t.Fatalf("want *Error containing %q, got %v", c.errLike, err)
				}
				if !strings.Contains(err.Error(), c.errLike) || !strings.Contains(err.Error(), `topic "orders" partition 2 offset 41`) {
					t.Fatalf("error %q lacks %q or the record's place", err, c.errLike)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if keep != c.keep {
				t.Fatalf("keep = %v, want %v", keep, c.keep)
			}
			if c.fields != nil {
				if !reflect.DeepEqual(rec.Fields, c.fields) {
					t.Fatalf("fields = %#v\nwant     %#v", rec.Fields, c.fields)
				}
				if rec.Value != nil {
					t.Fatalf("Value not cleared after changing fields")
				}
			}
			if c.check != nil {
				c.check(t, rec)
			}
		})
	}
}

func TestFieldTransforms(t *testing.T) {
	t.Parallel()
	runCases(t, []tcase{
		{name: "static", typ: "insert_field", raw: map[string]any{"field": "source", "value": "web"},
			value: `{"a":1}`, keep: true, fields: map[string]any{"a": 1.0, "source": "web"}},
		{name: "topic", typ: "insert_field", raw: map[string]any{"field": "t", "from": "topic"},
			value: `{}`, keep: true, fields: map[string]any{"t": "orders"}},
		{name: "partition+offset", typ: "insert_field", raw: map[string]any{"field": "o", "from": "offset"},
			value: `{}`, keep: true, fields: map[string]any{"o": int64(41)}},
		{name: "timestamp", typ: "insert_field", raw: map[string]any{"field": "ts", "from": "timestamp"},
			value: `{}`, keep: true, fields: map[string]any{"ts": ts}},
		{name: "key", typ: "insert_field", raw: map[string]any{"field": "k", "from": "key"},
			value: `{}`, keep: true, fields: map[string]any{"k": "k1"}},
		{name: "now", typ: "insert_field", raw: map[string]any{"field": "at", "from": "now"}, value: `{}`, keep: true,
			check: func(t *testing.T, r *sdk.Record) {
				if at, ok := r.Fields["at"].(time.Time); !ok || time.Since(at) > time.Minute {
					t.Fatalf("at = %v", r.Fields["at"])
				}
			}},
		{name: "tombstone untouched", typ: "insert_field", raw: map[string]any{"field": "x", "value": 1},
			keep: true, check: func(t *testing.T, r *sdk.Record) {
				if r.Fields != nil || r.Value != nil {
					t.Fatalf("tombstone changed: %#v", r)
				}
			}},
		{name: "not json", typ: "insert_field", raw: map[string]any{"field": "x", "value": 1},
			value: `nope`, errLike: "not a JSON object"},
		{name: "swap", typ: "rename", raw: map[string]any{"fields": map[string]any{"a": "b", "b": "a", "zz": "y"}},
			value: `{"a":1,"b":2,"c":3}`, keep: true, fields: map[string]any{"a": 2.0, "b": 1.0, "c": 3.0}},
		{name: "drop", typ: "drop_fields", raw: []any{"password", "missing"},
			value: `{"id":1,"password":"x"}`, keep: true, fields: map[string]any{"id": 1.0}},
		{name: "keep", typ: "keep_fields", raw: map[string]any{"fields": []any{"id", "amount"}},
			value: `{"id":1,"amount":5,"note":"x"}`, keep: true, fields: map[string]any{"id": 1.0, "amount": 5.0}},
		{name: "replace", typ: "mask", raw: []any{"card", "none"},
			value: `{"card":"4111111111111111","n":null}`, keep: true, fields: map[string]any{"card": "****", "n": nil}},
		{name: "keep last", typ: "mask", raw: map[string]any{"fields": []any{"card", "pin"}, "replacement": "#", "keep_last": 4},
			value: `{"card":"4111111111111111","pin":12}`, keep: true,
			fields: map[string]any{"card": "############1111", "pin": "12"}},
		{name: "keep length", typ: "mask", raw: map[string]any{"fields": []any{"name"}, "keep_length": true, "replacement": "xy"},
			value: `{"name":"Zoë"}`, keep: true, fields: map[string]any{"name": "xxx"}},
	})
}

func TestKeyAndHeaderTransforms(t *testing.T) {
	t.Parallel()
	key := func(want string) func(t *testing.T, r *sdk.Record) {
		return func(t *testing.T, r *sdk.Record) {
			if string(r.Key) != want {
				t.Fatalf("key = %s, want %s", r.Key, want)
			}
		}
	}
	runCases(t, []tcase{
		{name: "one field raw", typ: "value_to_key", raw: []any{"id"}, value: `{"id":12345678901,"x":1}`, keep: true, check: key("12345678901")},
		{name: "string field", typ: "value_to_key", raw: []any{"id"}, value: `{"id":"a-1"}`, keep: true, check: key("a-1")},
		{name: "several as json", typ: "value_to_key", raw: []any{"b", "a"}, value: `{"a":"x","b":2}`, keep: true, check: key(`{"b":2,"a":"x"}`)},
		{name: "missing", typ: "value_to_key", raw: []any{"id"}, value: `{}`, errLike: `field "id" is missing`},
		{name: "map", typ: "extract_field", raw: "after", value: `{"after":{"id":1},"op":"c"}`, keep: true, fields: map[string]any{"id": 1.0}},
		{name: "nested string", typ: "extract_field", raw: "a.b", value: `{"a":{"b":"hello"}}`, keep: true,
			check: func(t *testing.T, r *sdk.Record) {
				if string(r.Value) != "hello" || r.Fields != nil {
					t.Fatalf("value %q fields %v", r.Value, r.Fields)
				}
			}},
		{name: "number", typ: "extract_field", raw: "n", value: `{"n":2.5}`, keep: true,
			check: func(t *testing.T, r *sdk.Record) {
				if string(r.Value) != "2.5" {
					t.Fatalf("value %q", r.Value)
				}
			}},
		{name: "null is tombstone", typ: "extract_field", raw: "n", value: `{"n":null}`, keep: true,
			check: func(t *testing.T, r *sdk.Record) {
				if !r.IsTombstone() {
					t.Fatalf("not a tombstone: %#v", r)
				}
			}},
		{name: "missing", typ: "extract_field", raw: "a.b", value: `{"a":{}}`, errLike: `field "a.b": missing`},
		{name: "not a map", typ: "extract_field", raw: "a.b", value: `{"a":3}`, errLike: `field "a" is not a map`},
		{name: "static and from field", typ: "set_header",
			raw:   map[string]any{"headers": map[string]any{"origin": "api"}, "from_fields": map[string]any{"tenant": "t", "gone": "nope"}},
			value: `{"t":7}`, keep: true, check: func(t *testing.T, r *sdk.Record) {
				want := sdk.Headers{{Key: "origin", Value: "api"}, {Key: "tenant", Value: "7"}}
				if !reflect.DeepEqual(r.Headers, want) {
					t.Fatalf("headers %v", r.Headers)
				}
				if r.Value == nil {
					t.Fatalf("set_header must not force re-encoding")
				}
			}},
		{name: "drop", typ: "drop_header", raw: []any{"origin"}, value: `{}`, keep: true,
			check: func(t *testing.T, r *sdk.Record) {
				if len(r.Headers) != 0 {
					t.Fatalf("headers %v", r.Headers)
				}
			}},
	})
}

func TestCast(t *testing.T) {
	t.Parallel()
	raw := map[string]any{"fields": map[string]any{"i": "int64", "f": "float64", "s": "string", "b": "boolean", "d": "decimal", "n": "int64"}}
	runCases(t, []tcase{
		{name: "all types", typ: "cast", raw: raw, value: `{"i":"42","f":"2.5","s":12.5,"b":"yes","d":"-12.50","n":null}`, keep: true,
			fields: map[string]any{"i": int64(42), "f": 2.5, "s": "12.5", "b": true, "d": schema.Decimal("-12.50"), "n": nil}},
		{name: "whole float to int", typ: "cast", raw: map[string]any{"fields": map[string]any{"i": "int64", "d": "decimal"}},
			value: `{"i":3,"d":0.1}`, keep: true, fields: map[string]any{"i": int64(3), "d": schema.Decimal("0.1")}},
		{name: "fraction to int", typ: "cast", raw: map[string]any{"fields": map[string]any{"i": "int64"}}, value: `{"i":2.5}`, errLike: `field "i": cannot cast 2.5`},
		{name: "text to int", typ: "cast", raw: map[string]any{"fields": map[string]any{"i": "int64"}}, value: `{"i":"abc"}`, errLike: `cannot cast the string "abc" to int64`},
		{name: "bad decimal", typ: "cast", raw: map[string]any{"fields": map[string]any{"d": "decimal"}}, value: `{"d":"1e5"}`, errLike: "to decimal"},
		{name: "bad bool", typ: "cast", raw: map[string]any{"fields": map[string]any{"b": "boolean"}}, value: `{"b":"maybe"}`, errLike: "to boolean"},
	})
}

func TestExpressions(t *testing.T) {
	t.Parallel()
	topic := func(want string) func(t *testing.T, r *sdk.Record) {
		return func(t *testing.T, r *sdk.Record) {
			if r.Topic != want {
				t.Fatalf("topic = %q, want %q", r.Topic, want)
			}
		}
	}
	runCases(t, []tcase{
		{name: "keeps", typ: "filter", raw: "value.amount > 1000", value: `{"amount":1500}`, keep: true},
		{name: "drops", typ: "filter", raw: "value.amount > 1000", value: `{"amount":10}`, keep: false},
		{name: "env", typ: "filter", raw: `key == "k1" && headers.origin == "web" && topic == "orders" && partition == 2 && offset == 41 && timestamp.Year() == 2024`,
			value: `{}`, keep: true},
		{name: "no decode without value", typ: "filter", raw: `topic == "orders"`, value: `not json`, keep: true,
			check: func(t *testing.T, r *sdk.Record) {
				if r.Fields != nil {
					t.Fatal("decoded although the expression does not use value")
				}
			}},
		{name: "docs examples", typ: "filter", raw: `now() - timestamp > duration("1h") && headers["origin"] == 'web' && value.amount != nil && value.amount > 1000`,
			value: `{"amount":1001}`, keep: true},
		{name: "missing field defaults", typ: "filter", raw: "(value.amount ?? 0) > 1000", value: `{}`, keep: false},
		{name: "runtime error", typ: "filter", raw: "value.amount > 1000", value: `{"amount":"x"}`, errLike: `expression "value.amount > 1000"`},
		{name: "non-bool result", typ: "filter", raw: "value.flag", value: `{"flag":"x"}`, errLike: `expression "value.flag": invalid operation: bool(string) (column`},
		{name: "bad json", typ: "filter", raw: "value.a == 1", value: `{`, errLike: "not a JSON object"},
		{name: "by expression", typ: "route", raw: `"orders-" + value.region`, value: `{"region":"eu"}`, keep: true, check: topic("orders-eu")},
		{name: "condition true", typ: "route", raw: map[string]any{"condition": "value.amount > 1000", "topic": "big"},
			value: `{"amount":5000}`, keep: true, check: topic("big")},
		{name: "condition false", typ: "route", raw: map[string]any{"condition": "value.amount > 1000", "topic": "big"},
			value: `{"amount":5}`, keep: true, check: topic("orders")},
		{name: "empty topic", typ: "route", raw: `value.region ?? ""`, value: `{}`, errLike: "empty topic name"},
		{name: "non-string topic", typ: "route", raw: `value.region`, value: `{"region":3}`, errLike: "not a topic name"},
	})
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ   string
		raw   any
		field string
	}{
		{"filter", "value.amount >", "expression"},
		{"filter", "1 + 1", "expression"},
		{"filter", map[string]any{"expresion": "true"}, `did you mean "expression"`},
		{"route", map[string]any{"condition": "true"}, "topic"},
		{"route", map[string]any{"topic": "x"}, "condition"},
		{"route", map[string]any{"expression": "topic", "topic": "x"}, "expression"},
		{"route", map[string]any{"condition": "1 +", "topic": "x"}, "condition"},
		{"insert_field", map[string]any{"field": "a"}, "value"},
		{"insert_field", map[string]any{"field": "a", "value": 1, "from": "topic"}, "from"},
		{"insert_field", map[string]any{"field": "a", "from": "nowish"}, "must be one of"},
		{"cast", map[string]any{"fields": map[string]any{"a": "int"}}, `field "a": type must be one of`},
		{"mask", map[string]any{"fields": []any{"a"}, "keep_last": -1}, "keep_last"},
		{"rename", "a", "must be a map of settings"},
		{"extract_field", "a..b", "dotted path"},
		{"set_header", map[string]any{}, "headers"},
		{"drop_fields", map[string]any{}, "fields: required"},
		{"fliter", "true", `did you mean "filter"`},
	}
	for _, c := range cases {
		_, err := Parse(c.typ, c.raw)
		if err == nil || !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s %v: error %v should be a config error naming %q", c.typ, c.raw, err, c.field)
		}
	}
}

func TestSpecs(t *testing.T) {
	t.Parallel()
	for name, s := range Specs() {
		if s.Name != name || s.Kind != sdk.KindTransform {
			t.Errorf("spec %q: name %q kind %q", name, s.Name, s.Kind)
		}
		if err := sdk.CheckSpec(s); err != nil {
			t.Error(err)
		}
	}
	if len(Specs()) != 12 {
		t.Errorf("want 12 transforms, have %v", Names())
	}
}

func TestNewFromValidatedConfig(t *testing.T) {
	t.Parallel()
	spec := Specs()["filter"]
	cfg, err := spec.Validate(map[string]any{"expression": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New("filter", cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := New("nope", cfg); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestBuildChain(t *testing.T) {
	t.Parallel()
	chain, err := Build([]any{
		map[string]any{"filter": "value.amount > 1000"},
		map[string]any{"insert_field": map[string]any{"field": "source", "value": "web"}},
		map[string]any{"route": map[string]any{"condition": `value.source == "web"`, "topic": "web-orders"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	big, small := record(`{"amount":5000}`), record(`{"amount":5}`)
	if keep, err := chain.Apply(context.Background(), big); !keep || err != nil {
		t.Fatalf("big: %v %v", keep, err)
	}
	if big.Topic != "web-orders" || big.Fields["source"] != "web" {
		t.Fatalf("big: %#v", big)
	}
	if keep, err := chain.Apply(context.Background(), small); keep || err != nil {
		t.Fatalf("small: %v %v", keep, err)
	}
	if small.Fields["source"] != nil {
		t.Fatal("chain kept running after a drop")
	}

	_, err = Build([]any{map[string]any{"filter": "true"}, map[string]any{"cast": map[string]any{"fields": map[string]any{"a": "x"}}}})
	if err == nil || !strings.HasPrefix(err.Error(), "transforms[1].cast: ") {
		t.Fatalf("error should name the item: %v", err)
	}
	if _, err := Build([]any{map[string]any{"filter": "true", "route": "x"}}); err == nil {
		t.Fatal("two keys in one item accepted")
	}
}

func TestSchemaFollowsFields(t *testing.T) {
	t.Parallel()
	shared := &schema.Schema{Name: "orders", Key: []string{"id"}, Ref: &schema.Ref{ID: 3},
		Fields: []schema.Field{{Name: "id", Type: schema.Int64}, {Name: "amount", Type: schema.String}, {Name: "card", Type: schema.String}}}
	chain, err := Build([]any{
		map[string]any{"rename": map[string]any{"fields": map[string]any{"id": "order_id"}}},
		map[string]any{"cast": map[string]any{"fields": map[string]any{"amount": "decimal"}}},
		map[string]any{"drop_fields": []any{"card"}},
		map[string]any{"insert_field": map[string]any{"field": "n", "value": 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &sdk.Record{Fields: map[string]any{"id": int64(1), "amount": "2.50", "card": "x"}, Schema: shared}
	if _, err := chain.Apply(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	want := []schema.Field{{Name: "order_id", Type: schema.Int64}, {Name: "amount", Type: schema.DecimalT}, {Name: "n", Type: schema.Int64}}
	if !reflect.DeepEqual(rec.Schema.Fields, want) || rec.Schema.Ref != nil || !reflect.DeepEqual(rec.Schema.Key, []string{"order_id"}) {
		t.Fatalf("schema %+v", rec.Schema)
	}
	if shared.Fields[0].Name != "id" || len(shared.Fields) != 3 || shared.Ref == nil {
		t.Fatal("shared schema was modified")
	}
}
