package generator

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

func open(t testing.TB, raw map[string]any, pos sdk.Position) sdk.Source {
	t.Helper()
	cfg, err := spec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	return src
}

func drain(t testing.TB, src sdk.Source) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	for {
		recs, err := src.Read(context.Background())
		out = append(out, recs...)
		if errors.Is(err, sdk.ErrEndOfInput) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestConformance(t *testing.T) {
	sdktest.RunSource(t, Plugin(), sdktest.SourceCase{Config: map[string]any{"count": 100, "batch.size": 30}, Want: 100})
	sdktest.RunSource(t, Plugin(), sdktest.SourceCase{Config: map[string]any{"rate": 1000}, Want: 20})
}

func TestDefaultFastPathSizeAndResume(t *testing.T) {
	t.Parallel()
	cfg := map[string]any{"count": 10, "size": 64, "batch.size": 4}
	all := drain(t, open(t, cfg, nil))
	if len(all) != 10 {
		t.Fatalf("%d records", len(all))
	}
	for i, r := range all {
		var v map[string]any
		if len(r.Value) != 64 || json.Unmarshal(r.Value, &v) != nil || v["n"] != float64(i+1) {
			t.Fatalf("record %d: value %q", i, r.Value)
		}
		if string(r.Key) != strings.TrimSpace(string(r.Position)) || string(r.Position) != itoa(i+1) {
			t.Fatalf("record %d: key %q position %q", i, r.Key, r.Position)
		}
	}
	rest := drain(t, open(t, cfg, all[6].Position))
	if len(rest) != 3 || string(rest[0].Key) != "8" {
		t.Fatalf("resumed: %d records, first key %q", len(rest), rest[0].Key)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestTemplatesAreDeterministic(t *testing.T) {
	t.Parallel()
	cfg := map[string]any{"count": 5, "key": "k-{{randInt 1 3}}",
		"template": `{"id":{{.N}},"user":"{{name}}","c":"{{pick "x" "y"}}","id2":"{{uuid}}","a":{{randFloat 1 2}}}`}
	a, b := drain(t, open(t, cfg, nil)), drain(t, open(t, cfg, sdk.Position("2")))
	for i := range b {
		if string(a[i+2].Value) != string(b[i].Value) || string(a[i+2].Key) != string(b[i].Key) {
			t.Fatalf("record %d differs after a restart: %q vs %q", i+3, a[i+2].Value, b[i].Value)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(a[0].Value, &v); err != nil || v["id"] != 1.0 || len(v["id2"].(string)) != 36 {
		t.Fatalf("value %q: %v", a[0].Value, err)
	}
	if a[0].Value == nil || string(a[0].Value) == string(a[1].Value) {
		t.Fatalf("values %q %q", a[0].Value, a[1].Value)
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	recs := drain(t, open(t, map[string]any{"count": 3, "fields": map[string]any{
		"n": "{{.N}}", "who": "{{email}}", "ok": "{{bool}}", "word": "{{pick \"12abc\"}}"}}, nil))
	f := recs[2].Fields
	if recs[2].Value != nil || f["n"] != 3.0 || !strings.HasSuffix(f["who"].(string), "@example.com") || f["word"] != "12abc" {
		t.Fatalf("fields %v", f)
	}
	if _, ok := f["ok"].(bool); !ok {
		t.Fatalf("ok is %T", f["ok"])
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	src := open(t, map[string]any{"count": 30, "rate": 200}, nil)
	start := time.Now()
	if n := len(drain(t, src)); n != 30 {
		t.Fatalf("%d records", n)
	}
	// 30 records at 200/s take about 145 ms; allow for a busy machine.
	if el := time.Since(start); el < 120*time.Millisecond || el > 3*time.Second {
		t.Fatalf("took %s", el)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for raw, field := range map[string]map[string]any{
		"template": {"template": "{{.Nope"},
		"fields":   {"template": "x", "fields": map[string]any{"a": "1"}},
		"count":    {"count": -1},
		"key":      {"key": "{{"},
		"nope":     {"fields": map[string]any{"a": "{{nope}}"}},
	} {
		_, err := spec.Validate(field)
		if err == nil || !strings.Contains(err.Error(), raw) || !errors.Is(err, sdk.ErrInvalidConfig) {
			t.Fatalf("%s: got %v", raw, err)
		}
	}
}

func BenchmarkGenerate256(b *testing.B) {
	src := open(b, map[string]any{"size": 256}, nil)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		recs, _ := src.Read(context.Background())
		n += len(recs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkGenerateTemplate(b *testing.B) {
	src := open(b, map[string]any{"template": `{"id":{{.N}},"user":"{{name}}","amount":{{randInt 1 500}}}`}, nil)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		recs, _ := src.Read(context.Background())
		n += len(recs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
