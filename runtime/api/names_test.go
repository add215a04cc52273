package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestNamesValidated: names reach NATS subjects and KV keys, so the API
// checks them with the one name rule (sdk.ValidName) and topics with the
// log's rule, answering 400 naming the field. A 4,000-byte connector name
// was accepted with 201 and then broke the NATS connection; an invalid topic
// was accepted and failed only when the task started.
func TestNamesValidated(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	sink := func(extra map[string]any) map[string]any {
		cfg := map[string]any{"connector": "file", "kind": "sink", "topics": "names", "path": f.dir + "/out"}
		for k, v := range extra {
			cfg[k] = v
		}
		return cfg
	}
	source := map[string]any{"connector": "file", "kind": "source", "topic": strings.Repeat("t", 300), "path": f.dir + "/in"}
	for _, tc := range []struct {
		what, method, path string
		body               any
		field              string
	}{
		{"4000-byte name", "POST", "/connectors", map[string]any{"name": strings.Repeat("n", 4000), "config": sink(nil)}, "name:"},
		{"4000-byte name in config", "POST", "/connectors", map[string]any{"config": sink(map[string]any{"name": strings.Repeat("n", 4000)})}, "name:"},
		{"129-byte name", "POST", "/connectors", map[string]any{"name": strings.Repeat("n", 129), "config": sink(nil)}, "name:"},
		{"dotted name", "POST", "/connectors", map[string]any{"name": "a.b", "config": sink(nil)}, "name:"},
		{"name with a space", "POST", "/connectors", map[string]any{"name": "a b", "config": sink(nil)}, "name:"},
		{"4000-byte name by PUT", "PUT", "/connectors/" + strings.Repeat("n", 4000) + "/config", sink(nil), "name:"},
		{"dotted topic", "POST", "/connectors", map[string]any{"name": "s1", "config": sink(map[string]any{"topics": "ok,a.b"})}, "topics[1]:"},
		{"300-byte topic", "POST", "/connectors", map[string]any{"name": "s2", "config": source}, "topic:"},
		{"bad dead-letter topic", "POST", "/connectors", map[string]any{"name": "s3", "config": sink(map[string]any{
			"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq.names"})}, "errors.deadletterqueue.topic.name:"},
		{"bad group", "POST", "/connectors", map[string]any{"name": "s4", "config": sink(map[string]any{"group": "my group"})}, "group:"},
	} {
		code, body := f.do(tc.method, tc.path, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(string(body), tc.field) {
			t.Errorf("%s: %d %s; want 400 naming %s", tc.what, code, body, tc.field)
		}
		if len(body) > 1000 {
			t.Errorf("%s: the answer repeats the whole name (%d bytes)", tc.what, len(body))
		}
	}
	var names []string
	f.must(http.StatusOK, "GET", "/connectors", nil, &names)
	if len(names) != 0 {
		t.Fatalf("refused connectors were stored: %d of them", len(names))
	}

	// Names of exactly 128 pass, and the worker still reaches NATS.
	long := strings.Repeat("n", 128)
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": long, "config": sink(nil)}, nil)
	f.must(http.StatusCreated, "PUT", "/connectors/"+strings.Repeat("p", 128)+"/config",
		sink(map[string]any{"topics": strings.Repeat("t", 128), "group": strings.Repeat("g", 128)}), nil)
	f.must(http.StatusOK, "GET", "/connectors/"+long+"/status", nil, nil)
	f.must(http.StatusNoContent, "DELETE", "/connectors/"+long, nil, nil)
}
