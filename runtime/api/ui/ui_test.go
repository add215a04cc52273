package ui

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func b64(s string) *string {
	v := base64.StdEncoding.EncodeToString([]byte(s))
	return &v
}

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		in         *string
		kind, text string
		schema     string
	}{
		{"json", b64(`{"a":1}`), "json", "{\n  \"a\": 1\n}", ""},
		{"text", b64("hello\tworld"), "text", "hello\tworld", ""},
		{"binary", b64("\x01\x02\xff"), "binary", "", ""},
		{"framed", b64("\x00\x00\x00\x00\x07\x01\x02"), "binary", "(framed with schema id 7, which the registry does not know: see the hex)", "schema id 7"},
		{"not base64", func() *string { s := "%%"; return &s }(), "text", "%%", ""},
	} {
		d := decode(tc.in)
		if d.Kind != tc.kind || d.Text != tc.text || d.Schema != tc.schema {
			t.Errorf("%s: %+v, want kind %q text %q schema %q", tc.name, d, tc.kind, tc.text, tc.schema)
		}
	}
	if d := decode(nil); !d.Null {
		t.Errorf("nil value: %+v", d)
	}
	d := withSchema(decode(b64("\x00\x00\x00\x00\x01\x0a")), []byte(`{"id":5}`), &schemaRef{ID: 1, Type: "AVRO", Subject: "s", Version: 2})
	if d.Kind != "avro" || d.Text != "{\n  \"id\": 5\n}" || d.Schema != "schema s version 2 (id 1)" {
		t.Errorf("decoded by the API: %+v", d)
	}
}

func TestHexDump(t *testing.T) {
	t.Parallel()
	got := hexDump([]byte("0123456789abcdefXY\x00"))
	want := "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|\n" +
		"00000010  58 59 00                                          |XY.|\n"
	if got != want {
		t.Errorf("hexDump:\n%s\nwant\n%s", got, want)
	}
	big := hexDump(make([]byte, maxHex+10))
	if !strings.HasSuffix(big, "… 10 more bytes\n") || strings.Count(big, "\n") != maxHex/16+1 {
		t.Errorf("a long value is not cut at %d bytes", maxHex)
	}
}

func TestRates(t *testing.T) {
	t.Parallel()
	r := newRates()
	t0 := time.Unix(1000, 0)
	if _, known := r.observe("k", 100, t0); known {
		t.Fatal("a rate from one sample")
	}
	if _, known := r.observe("k", 150, t0.Add(500*time.Millisecond)); known {
		t.Fatal("a rate over less than a second")
	}
	if rate, known := r.observe("k", 300, t0.Add(2*time.Second)); !known || rate != 100 {
		t.Errorf("rate %v %v, want 100/s", rate, known)
	}
	if rate, _ := r.observe("k", 10, t0.Add(4*time.Second)); rate != 0 {
		t.Errorf("a counter that went back (offsets reset): %v, want 0", rate)
	}
}

func TestTrimAndTopics(t *testing.T) {
	t.Parallel()
	if got := trimTrace("a\nb\nc\nd\ne\nf"); got != "a\nb\nc\nd\n… (2 more lines)" {
		t.Errorf("trimTrace: %q", got)
	}
	if got := shorten("héllo", 2); got != "h…" {
		t.Errorf("shorten cuts inside a rune: %q", got)
	}
	cfg := map[string]any{"topics": []any{"a", "b"}, "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "x-dlq"}
	if got := topicsOf(cfg); strings.Join(got, ",") != "a,b" || dlqOf(cfg) != "x-dlq" {
		t.Errorf("topicsOf %v dlqOf %q", got, dlqOf(cfg))
	}
	if dlqOf(map[string]any{"errors.deadletterqueue.topic.name": "x"}) != "" {
		t.Error("a dead-letter topic without errors.tolerance all")
	}
}

// TestPagesRender serves every page from a fake API: templates execute,
// headers are set, and the API's errors become pages.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	api := http.NewServeMux()
	api.HandleFunc("GET /connectors", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"src":{"status":{"name":"src","type":"source","connector":{"state":"FAILED"},"tasks":[{"id":0,"state":"FAILED","trace":"boom"}]},
			"info":{"name":"src","type":"source","config":{"connector":"file","topic":"t","password":"[hidden]"}}}}`))
	})
	api.HandleFunc("GET /topics", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`[{"name":"t","partition_info":[{"partition":0,"first_offset":0,"last_offset":4,"end_offset":5}]}]`))
	})
	api.HandleFunc("GET /topics/t", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"name":"t","partition_info":[{"partition":0,"first_offset":0,"last_offset":4,"end_offset":5}],"groups":[]}`))
	})
	api.HandleFunc("GET /connectors/src", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"name":"src","type":"source","config":{"connector":"file","topic":"t","password":"[hidden]"}}`))
	})
	api.HandleFunc("GET /connectors/src/status", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"name":"src","type":"source","connector":{"state":"RUNNING","worker_id":"w9"},
			"tasks":[{"id":0,"state":"RUNNING","worker_id":"w9","gauges":{"slot_retained_wal_bytes":52}}],
			"progress":{"phase":"snapshot","done":25,"total":100,"tables":[{"name":"shop.orders","state":"running","done":5,"total":10}]}}`))
	})
	api.HandleFunc("GET /connectors/src/history", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"interval":"10s","points":[{"time":"2026-01-01T00:00:00Z","records_per_second":1},{"time":"2026-01-01T00:00:10Z","records_per_second":3}]}`))
	})
	api.HandleFunc("GET /pipelines", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":{},"pipeline":null}`)) })
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":404,"message":"no route ` + r.URL.Path + `"}`))
	})
	c := New(api, Options{Version: "v-test"})
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/connectors/src", nil))
	for _, want := range []string{"snapshot: 25 of 100", `<progress id="table-progress-0" max="100" value="50">`, "shop.orders", "slot_retained_wal_bytes", "w9", `class="chart-rate"`, "[hidden]"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("connector page lacks %q", want)
		}
	}
	for path, want := range map[string]string{
		"/ui/":                "1 connector(s): 0 running, 1 failed",
		"/ui/connectors":      "state-failed",
		"/ui/topics":          "5",
		"/ui/topics/t":        "Record inspector",
		"/ui/pipelines":       "No pipeline file is applied",
		"/ui/schemas":         "does not serve the schema registry",
		"/ui/connectors/nope": "no route /connectors/nope",
		"/ui/connectors/src":  `<progress id="progress" max="100" value="25">`,
		"/ui/dlq":             "No connector has a dead-letter topic",
	} {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: %d, want %q in:\n%.800s", path, rec.Code, want, rec.Body.String())
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: security headers missing", path)
		}
	}
	for path, code := range map[string]int{"/ui/static/htmx.min.js": 200, "/ui/static/console.css": 200, "/ui/static/": 404, "/ui/static/nope.js": 404} {
		rec = httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != code {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, code)
		}
	}
	rec = httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("POST", "/ui/connectors/src/action", strings.NewReader(`{"action":"pause"}`)))
	if rec.Code != http.StatusForbidden {
		t.Errorf("an action without the CSRF header: %d", rec.Code)
	}
}

func TestDiffLines(t *testing.T) {
	t.Parallel()
	got, ok := diffLines([]string{"a", "b", "c"}, []string{"a", "x", "c", "d"})
	var s []string
	for _, l := range got {
		s = append(s, l.Op+l.Text)
	}
	if !ok || strings.Join(s, ",") != " a,-b,+x, c,+d" {
		t.Errorf("diff: %v %v", s, ok)
	}
	if _, ok := diffLines(make([]string, 3000), make([]string, 3000)); ok {
		t.Error("a diff beyond the bound")
	}
}

// TestSharedTopicRates: when two sources write one topic, each edge shows
// the source's own rate (its history), not the topic's.
func TestSharedTopicRates(t *testing.T) {
	t.Parallel()
	api := http.NewServeMux()
	api.HandleFunc("GET /connectors", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{
			"a":{"status":{"connector":{"state":"RUNNING"}},"info":{"name":"a","type":"source","config":{"connector":"x","topic":"t"}}},
			"b":{"status":{"connector":{"state":"RUNNING"}},"info":{"name":"b","type":"source","config":{"connector":"x","topic":"t"}}}}`))
	})
	api.HandleFunc("GET /topics", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`[{"name":"t"}]`)) })
	api.HandleFunc("GET /topics/t", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"name":"t","groups":[]}`)) })
	for name, rate := range map[string]string{"a": "5", "b": "7"} {
		api.HandleFunc("GET /connectors/"+name+"/history", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"interval":"10s","points":[{"time":"2026-01-01T00:00:00Z","records_per_second":1},{"time":"2026-01-01T00:00:10Z","records_per_second":` + rate + `}]}`))
		})
	}
	g, err := New(api, Options{}).buildGraph(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, e := range g.Edges {
		labels[e.From] = e.Label
	}
	if labels["a"] != "~5.0/s (10s)" || labels["b"] != "~7.0/s (10s)" {
		t.Errorf("edge labels: %v", labels)
	}
}
