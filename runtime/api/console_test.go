package api

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/braidhq/braid/runtime/api/ui"
)

// rawDo sends a request without the fixture's token or labels.
func rawDo(t *testing.T, method, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var csrfMeta = regexp.MustCompile(`<meta name="braid-csrf" content="([0-9a-f]+)">`)

// csrfOf reads the anti-forgery token from a console page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfMeta.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no braid-csrf meta in the page:\n%.500s", page)
	}
	return m[1]
}

func TestConsoleActionsNeedCSRFAndJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "vault1",
		"config": map[string]any{"connector": "vault", "password": "s3cr3t-pw", "topic": "v"}}, nil)
	resp, page := rawDo(t, "GET", f.base+"/ui/connectors/vault1", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/connectors/vault1: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "s3cr3t-pw") || !strings.Contains(page, "[hidden]") {
		t.Errorf("the connector page must show the secret as [hidden] and never its value")
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("console page without %s", h)
		}
	}
	token := csrfOf(t, page)
	action := f.base + "/ui/connectors/vault1/action"
	pause := `{"action":"pause"}`
	for _, tc := range []struct {
		what   string
		header http.Header
		code   int
	}{
		{"no token", http.Header{"Content-Type": {"application/json"}}, http.StatusForbidden},
		{"wrong token", http.Header{"Content-Type": {"application/json"}, ui.CSRFHeader: {"0" + token[1:]}}, http.StatusForbidden},
		{"a form body", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, ui.CSRFHeader: {token}}, http.StatusUnsupportedMediaType},
		{"text/plain", http.Header{"Content-Type": {"text/plain"}, ui.CSRFHeader: {token}}, http.StatusUnsupportedMediaType},
		{"another site", http.Header{"Content-Type": {"application/json"}, ui.CSRFHeader: {token}, "Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"a rebound name", http.Header{"Content-Type": {"application/json"}, ui.CSRFHeader: {token}, "Host": {"evil.example"}}, http.StatusForbidden},
	} {
		req, _ := http.NewRequest("POST", action, strings.NewReader(pause))
		req.Header = tc.header
		if h := tc.header.Get("Host"); h != "" {
			req.Host = h
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.what, resp.StatusCode, tc.code)
		}
	}
	var st ConnectorStatus
	f.must(http.StatusOK, "GET", "/connectors/vault1/status", nil, &st)
	if st.Connector.State == "PAUSED" {
		t.Fatalf("a refused action paused the connector")
	}
	resp, body := rawDo(t, "POST", action, pause, http.Header{"Content-Type": {"application/json"}, ui.CSRFHeader: {token},
		"Origin": {f.base}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "PAUSED") {
		t.Fatalf("a console action from the console: %d\n%s", resp.StatusCode, body)
	}
	f.must(http.StatusOK, "GET", "/connectors/vault1/status", nil, &st)
	if st.Connector.State != "PAUSED" {
		t.Errorf("after the console's pause the API says %s", st.Connector.State)
	}
	// The API's refusals reach the page as messages.
	for body, want := range map[string]string{
		`{"action":"reset-offsets"}`:               "STOPPED state",
		`{"action":"restart-task","task":"x"}`:     "not a task number",
		`{"action":"restart-task","task":"7"}`:     "not found",
		`{"action":"explode"}`:                     "Unknown action",
		`{"action":"snapshot"}`:                    "cannot take an incremental snapshot",
		`{"action":"restart-task","task":"0/../"}`: "not a task number",
	} {
		resp, page := rawDo(t, "POST", action, body, http.Header{"Content-Type": {"application/json"}, ui.CSRFHeader: {token}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("action %s: %d, want a message with %q:\n%.600s", body, resp.StatusCode, want, page)
		}
	}
}

func TestConsoleLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{Addr: "0.0.0.0:0", Token: "tok-console-1"})
	// No session: pages redirect to the login form, htmx polls are told to.
	resp, _ := rawDo(t, "GET", f.base+"/ui/", "", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("GET /ui/ without a session: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = rawDo(t, "GET", f.base+"/ui/overview/graph", "", http.Header{"Hx-Request": {"true"}})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != "/ui/login" {
		t.Errorf("htmx poll without a session: %d, HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	resp, page := rawDo(t, "GET", f.base+"/ui/login", "", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "tok-console-1") {
		t.Fatalf("GET /ui/login: %d", resp.StatusCode)
	}
	if resp, _ := rawDo(t, "GET", f.base+"/ui/static/htmx.min.js", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("static files must load before login: %d", resp.StatusCode)
	}
	json := http.Header{"Content-Type": {"application/json"}}
	if resp, _ := rawDo(t, "POST", f.base+"/ui/login", `{"token":"nope"}`, json); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d", resp.StatusCode)
	}
	if resp, _ := rawDo(t, "POST", f.base+"/ui/login", `token=tok-console-1`,
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("login with a form body: %d, want 415", resp.StatusCode)
	}
	resp, _ = rawDo(t, "POST", f.base+"/ui/login", `{"token":"tok-console-1"}`, json)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/ui/" ||
		strings.Contains(session.Value, "tok-console-1") {
		t.Fatalf("login: %d, cookie %+v; want an HttpOnly SameSite=Strict cookie for /ui/ without the token", resp.StatusCode, session)
	}
	cookie := http.Header{"Cookie": {session.Name + "=" + session.Value}}
	resp, page = rawDo(t, "GET", f.base+"/ui/", "", cookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Log out") || strings.Contains(page, "tok-console-1") {
		t.Fatalf("GET /ui/ with the session: %d", resp.StatusCode)
	}
	// The cookie is the console's, not the API's.
	if resp, _ := rawDo(t, "GET", f.base+"/connectors", "", cookie); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /connectors with the console's cookie: %d, want 401", resp.StatusCode)
	}
	if resp, _ := rawDo(t, "GET", f.base+"/ui/", "", http.Header{"Cookie": {sessionCookie + "=forged"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /ui/ with a forged cookie: %d, want 303", resp.StatusCode)
	}
	// A bearer token works for the console as for the API.
	if resp, _ := rawDo(t, "GET", f.base+"/ui/topics", "", http.Header{"Authorization": {"Bearer tok-console-1"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/topics with the bearer token: %d", resp.StatusCode)
	}
}

func TestConsolePipelineApply(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	_, page := rawDo(t, "GET", f.base+"/ui/pipelines", "", nil)
	hdr := http.Header{"Content-Type": {"application/json"}, ui.CSRFHeader: {csrfOf(t, page)}}
	post := func(body map[string]string) string {
		t.Helper()
		data, _ := json.Marshal(body)
		resp, answer := rawDo(t, "POST", f.base+"/ui/pipelines", string(data), hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /ui/pipelines: %d %s", resp.StatusCode, answer)
		}
		return html.UnescapeString(answer)
	}
	good := "version: 1\ntopics:\n  t1: { partitions: 1 }\n"
	if got := post(map[string]string{"yaml": good, "mode": "dry-run", "file": "mine.yaml"}); !strings.Contains(got, "+ topic t1") {
		t.Errorf("dry run: %s", got)
	}
	if code, _ := f.do("GET", "/topics/t1", nil); code != http.StatusNotFound {
		t.Errorf("the dry run created the topic: %d", code)
	}
	bad := "version: 1\nsources:\n  s: { connector: nope, topic: t1 }\n"
	if got := post(map[string]string{"yaml": bad, "mode": "apply", "file": "mine.yaml"}); !strings.Contains(got, "mine.yaml:3:") {
		t.Errorf("a file with mistakes: %s", got)
	}
	if got := post(map[string]string{"yaml": good, "mode": "apply"}); !strings.Contains(got, "Applied.") {
		t.Errorf("apply: %s", got)
	}
	if code, _ := f.do("GET", "/topics/t1", nil); code != http.StatusOK {
		t.Errorf("apply did not create the topic: %d", code)
	}
}

// TestConsoleHidesSecrets: no console page shows a secret setting's value,
// not even in a failed task's error, which quotes it.
func TestConsoleHidesSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "leaky",
		"config": map[string]any{"connector": "vault", "password": "pw-9f8e7d", "topic": "v", "fail": true}}, nil)
	eventually(t, "the failed task", func() bool {
		var st ConnectorStatus
		f.must(http.StatusOK, "GET", "/connectors/leaky/status", nil, &st)
		return len(st.Tasks) > 0 && st.Tasks[0].State == "FAILED"
	})
	for _, path := range []string{"/ui/", "/ui/overview/graph", "/ui/connectors", "/ui/connectors/leaky", "/ui/connectors/leaky/status", "/ui/pipelines", "/ui/dlq"} {
		resp, page := rawDo(t, "GET", f.base+path, "", nil)
		if resp.StatusCode != http.StatusOK || strings.Contains(page, "pw-9f8e7d") {
			t.Errorf("GET %s: %d, or the page holds the password", path, resp.StatusCode)
		}
		if path == "/ui/connectors/leaky" && (!strings.Contains(page, "password [hidden] refused") || !strings.Contains(page, "FAILED")) {
			t.Errorf("the failed task's error is not shown scrubbed:\n%s", page)
		}
	}
}
