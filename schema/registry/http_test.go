package registry

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

type apiClient struct {
	t   *testing.T
	url string
}

func newAPI(t *testing.T) *apiClient {
	srv := httptest.NewServer(Handler(newJSRegistry(t), nil))
	t.Cleanup(srv.Close)
	return &apiClient{t: t, url: srv.URL}
}

// do sends a request and returns the status and body.
func (c *apiClient) do(method, path string, body any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctxT(c.t), method, c.url+path, rd)
	req.Header.Set("Content-Type", ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		c.t.Errorf("%s %s: content type %q", method, path, ct)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (c *apiClient) want(method, path string, body any, status int, want string) {
	c.t.Helper()
	got, b := c.do(method, path, body)
	if got != status || b != want {
		c.t.Fatalf("%s %s = %d %s\nwant %d %s", method, path, got, b, status, want)
	}
}

func TestHTTPConfluentShapes(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	c.want("GET", "/subjects", nil, 200, `[]`)
	c.want("POST", "/subjects/users-value/versions", map[string]any{"schema": userV1}, 200, `{"id":1}`)
	c.want("POST", "/subjects/users-value/versions", map[string]any{"schema": userV1Respelled, "schemaType": "AVRO"}, 200, `{"id":1}`)
	c.want("POST", "/subjects/users-value/versions", map[string]any{"schema": userV2}, 200, `{"id":2}`)
	c.want("GET", "/subjects", nil, 200, `["users-value"]`)
	c.want("GET", "/subjects/users-value/versions", nil, 200, `[1,2]`)
	v1, _ := json.Marshal(userV1)
	c.want("GET", "/subjects/users-value/versions/1", nil, 200,
		`{"subject":"users-value","version":1,"id":1,"schema":`+string(v1)+`}`)
	c.want("GET", "/schemas/ids/1", nil, 200, `{"schema":`+string(v1)+`}`)
	c.want("GET", "/schemas/ids/1/schema", nil, 200, strings.TrimSpace(userV1))
	c.want("GET", "/subjects/users-value/versions/latest/schema", nil, 200, strings.TrimSpace(userV2))
	c.want("GET", "/schemas/ids/1/versions", nil, 200, `[{"subject":"users-value","version":1}]`)
	c.want("GET", "/schemas/ids/2/subjects", nil, 200, `["users-value"]`)
	c.want("GET", "/schemas/types", nil, 200, `["JSON","PROTOBUF","AVRO"]`)
	c.want("POST", "/subjects/users-value", map[string]any{"schema": userV1Respelled}, 200,
		`{"subject":"users-value","version":1,"id":1,"schema":`+string(v1)+`}`)

	proto := `syntax = "proto3"; message P { string a = 1; }`
	c.want("POST", "/subjects/p/versions", map[string]any{"schema": proto, "schemaType": "PROTOBUF"}, 200, `{"id":3}`)
	pj, _ := json.Marshal(proto)
	c.want("GET", "/subjects/p/versions/1", nil, 200,
		`{"subject":"p","version":1,"id":3,"schema":`+string(pj)+`,"schemaType":"PROTOBUF"}`)

	c.want("POST", "/compatibility/subjects/users-value/versions/latest", map[string]any{"schema": userV1}, 200,
		`{"is_compatible":true}`)
	c.want("POST", "/compatibility/subjects/users-value/versions/latest?verbose=true", map[string]any{"schema": userV2}, 200,
		`{"is_compatible":true,"messages":[]}`)
	_, body := c.do("POST", "/compatibility/subjects/users-value/versions?verbose=true", map[string]any{"schema": userNoDefault})
	if !strings.Contains(body, `"is_compatible":false`) || !strings.Contains(body, "READER_FIELD_MISSING_DEFAULT_VALUE") {
		t.Fatalf("verbose incompatibility = %s", body)
	}

	c.want("GET", "/config", nil, 200, `{"compatibilityLevel":"BACKWARD"}`)
	c.want("PUT", "/config", map[string]string{"compatibility": "FULL"}, 200, `{"compatibility":"FULL"}`)
	c.want("PUT", "/config/users-value", map[string]string{"compatibility": "none"}, 200, `{"compatibility":"NONE"}`)
	c.want("GET", "/config/users-value", nil, 200, `{"compatibilityLevel":"NONE"}`)
	c.want("DELETE", "/config/users-value", nil, 200, `{"compatibilityLevel":"NONE"}`)
	c.want("GET", "/config/users-value?defaultToGlobal=true", nil, 200, `{"compatibilityLevel":"FULL"}`)
	c.want("GET", "/mode", nil, 200, `{"mode":"READWRITE"}`)
	c.want("PUT", "/mode/p", map[string]string{"mode": "READONLY"}, 200, `{"mode":"READONLY"}`)
	c.want("GET", "/mode/p", nil, 200, `{"mode":"READONLY"}`)

	c.want("DELETE", "/subjects/users-value/versions/2", nil, 200, `2`)
	c.want("GET", "/subjects/users-value/versions", nil, 200, `[1]`)
	c.want("GET", "/subjects/users-value/versions?deleted=true", nil, 200, `[1,2]`)
	c.want("DELETE", "/subjects/users-value/versions/2?permanent=true", nil, 200, `2`)
	c.want("DELETE", "/subjects/users-value", nil, 200, `[1]`)
	c.want("DELETE", "/subjects/users-value?permanent=true", nil, 200, `[1]`)
	c.want("GET", "/subjects?deleted=true", nil, 200, `["p"]`)
}

// TestHTTPErrorGolden pins Confluent's error codes and bodies.
func TestHTTPErrorGolden(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	c.want("POST", "/subjects/s/versions", map[string]any{"schema": userV1}, 200, `{"id":1}`)
	c.want("PUT", "/mode/ro", map[string]string{"mode": "READONLY"}, 200, `{"mode":"READONLY"}`)
	cases := []struct {
		name, method, path string
		body               any
	}{
		{"subject_not_found", "GET", "/subjects/nope/versions", nil},
		{"version_not_found", "GET", "/subjects/s/versions/9", nil},
		{"invalid_version", "GET", "/subjects/s/versions/abc", nil},
		{"schema_not_found", "GET", "/schemas/ids/999", nil},
		{"invalid_schema", "POST", "/subjects/s/versions", map[string]any{"schema": `{"type":"record","name":"R"}`}},
		{"invalid_schema_type", "POST", "/subjects/s/versions", map[string]any{"schema": `{}`, "schemaType": "XML"}},
		{"incompatible", "POST", "/subjects/s/versions", map[string]any{"schema": userNoDefault}},
		{"invalid_compatibility", "PUT", "/config", map[string]string{"compatibility": "SIDEWAYS"}},
		{"invalid_mode", "PUT", "/mode", map[string]string{"mode": "WRITEONLY"}},
		{"compatibility_not_configured", "GET", "/config/s", nil},
		{"mode_not_configured", "GET", "/mode/s", nil},
		{"not_soft_deleted", "DELETE", "/subjects/s?permanent=true", nil},
		{"version_not_soft_deleted", "DELETE", "/subjects/s/versions/1?permanent=true", nil},
		{"read_only", "POST", "/subjects/ro/versions", map[string]any{"schema": userV1}},
		{"lookup_not_found", "POST", "/subjects/s", map[string]any{"schema": userV2}},
		{"bad_body", "POST", "/subjects/s/versions", "not an object"},
		{"unknown_route", "GET", "/nothing/here", nil},
	}
	for _, tc := range cases {
		status, body := c.do(tc.method, tc.path, tc.body)
		got := tc.method + " " + tc.path + "\n" + http.StatusText(status) + "\n" + body + "\n"
		file := filepath.Join("testdata", "http", tc.name+".golden")
		if *update {
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (run with -update)", tc.name, err)
		}
		if got != string(want) {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, got, want)
		}
	}
}
