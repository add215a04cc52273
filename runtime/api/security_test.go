package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	httpconn "github.com/braidhq/braid/connectors/http"
	"github.com/braidhq/braid/runtime/worker"
	"github.com/braidhq/braid/schema/registry"
)

func TestTokenRequiredBeyondLoopback(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	open := New(f.eng, Options{Addr: "0.0.0.0:0"})
	if err := open.Start(context.Background()); !errors.Is(err, ErrTokenRequired) {
		t.Fatalf("start on 0.0.0.0 without a token: %v, want ErrTokenRequired", err)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true,
		"0.0.0.0:1": false, ":1": false, "192.0.2.1:1": false, "example.com:1": false} {
		if got := LoopbackOnly(addr); got != want {
			t.Errorf("LoopbackOnly(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	// Listening on all interfaces, but only ever connected to via loopback.
	f := newFixture(t, Options{Addr: "0.0.0.0:0", Token: "tok-123"})
	for _, tc := range []struct {
		path, auth string
		code       int
	}{
		{"/connectors", "", http.StatusUnauthorized},
		{"/connectors", "Bearer wrong", http.StatusUnauthorized},
		{"/connectors", "Basic tok-123", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/connectors", "Bearer tok-123", http.StatusOK},
		{"/healthz", "", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", f.base+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s with %q: %d, want %d", tc.path, tc.auth, resp.StatusCode, tc.code)
		}
		if tc.code == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s: 401 without WWW-Authenticate: Bearer", tc.path)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	big := `{"name":"x","config":{"connector":"file","pad":"` + strings.Repeat("a", maxBody) + `"}}`
	code, body := f.do("POST", "/connectors", big)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s", code, body)
	}
}

// TestSecretsNeverShown puts a secret through every route that shows
// configs, statuses, validation echoes, diffs and pipelines, then greps
// every response and the log for it.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-s3cr3t"
	const secret2 = "0th3r-s3cr3t"
	f := newFixture(t, Options{})
	cfg := map[string]any{"connector": "vault", "topic": "vaulted", "password": secret, "fail": true}
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "v", "config": cfg}, nil)
	eventually(t, "the vault task to fail", func() bool {
		var st worker.ConnectorStatus
		f.must(http.StatusOK, "GET", "/connectors/v/status", nil, &st)
		return len(st.Tasks) == 1 && st.Tasks[0].State == worker.StateFailed
	})
	var st worker.ConnectorStatus
	f.must(http.StatusOK, "GET", "/connectors/v/status", nil, &st)
	if !strings.Contains(st.Tasks[0].Trace, "password [hidden] refused") {
		t.Errorf("trace not scrubbed as expected: %q", st.Tasks[0].Trace)
	}
	for _, path := range []string{"/connectors/v", "/connectors/v/config", "/connectors/v/tasks",
		"/connectors?expand=info&expand=status", "/connectors/v/tasks/0/status"} {
		f.must(http.StatusOK, "GET", path, nil, nil)
	}
	f.must(http.StatusOK, "PUT", "/connector-plugins/vault/config/validate", cfg, nil)
	f.must(http.StatusOK, "PUT", "/connector-plugins/vault/config/validate",
		map[string]any{"topic": "t", "password": []any{secret}}, nil) // wrong type: echoed?
	cfg["password"] = []any{secret} // a wrong type, whose error message would quote the value
	f.must(http.StatusBadRequest, "PUT", "/connectors/v/config", cfg, nil)

	yaml := func(pw string) string {
		return fmt.Sprintf("version: 1\nname: sec\ntopics:\n  vaulted: {}\nsources:\n  pv:\n    connector: vault\n    topic: vaulted\n"+
			"    config: { password: %q, fail: true }\n", pw)
	}
	f.must(http.StatusOK, "PUT", "/pipelines", yaml(secret), nil)
	f.must(http.StatusOK, "GET", "/pipelines", nil, nil)
	f.must(http.StatusOK, "PUT", "/pipelines?dry_run=true", yaml(secret2), nil)
	f.must(http.StatusOK, "GET", "/connectors/pv/config", nil, nil)
	eventually(t, "the pipeline's vault task to fail and log", func() bool {
		return strings.Contains(f.logs.String(), "connector=pv") && strings.Contains(f.logs.String(), "task failed")
	})
	f.must(http.StatusOK, "GET", "/metrics", nil, nil)

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.bodies {
		for _, s := range []string{secret, secret2} {
			if strings.Contains(b, s) {
				t.Errorf("a response shows the secret: %s", b)
			}
		}
	}
	logs := f.logs.String()
	if strings.Contains(logs, secret) || strings.Contains(logs, secret2) {
		t.Errorf("the log shows the secret:\n%s", logs)
	}
	if !strings.Contains(logs, "password [hidden] refused") {
		t.Errorf("the task failure was not logged (scrubbed):\n%s", logs)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	certFile, keyFile, pool := selfSigned(t)
	srv := New(f.eng, Options{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := cl.Get("https://" + srv.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("https: %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	if err := New(f.eng, Options{Addr: "127.0.0.1:0", TLSCert: certFile}).Start(ctx); err == nil {
		t.Fatal("a certificate without a key started")
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "braid test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestSchemaRegistryMounted(t *testing.T) {
	t.Parallel()
	reg := registry.New(registry.NewMemStore(), nil)
	f := newFixture(t, Options{Token: "t", SchemaRegistry: registry.Handler(reg, nil)})
	body := `{"schema": "{\"type\":\"string\"}"}`
	code, data := f.doWith("POST", "/subjects/orders-value/versions", body,
		http.Header{"Content-Type": {"application/vnd.schemaregistry.v1+json"}})
	if code != http.StatusOK || !strings.Contains(string(data), `"id"`) {
		t.Fatalf("register: %d %s", code, data)
	}
	code, data = f.do("GET", "/subjects", nil)
	if code != http.StatusOK || !strings.Contains(string(data), "orders-value") {
		t.Fatalf("subjects: %d %s", code, data)
	}
	f.token = ""
	if code, _ := f.do("GET", "/subjects", nil); code != http.StatusUnauthorized {
		t.Fatalf("registry without token: %d", code)
	}
}

// TestUploadCannotReadServerFiles: an uploaded pipeline may not pull the
// server's files or environment into a config the API would then show.
func TestUploadCannotReadServerFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{PipelineEnv: func(name string) (string, bool) {
		if name == "VISIBLE" {
			return "yes", true
		}
		return "", false
	}})
	secretFile := filepath.Join(f.dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte("file-s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	pipeline := func(path string) string {
		return fmt.Sprintf("version: 1\ntopics:\n  up: {}\nsinks:\n  s: { connector: file, topics: [up], config: { path: %q } }\n", path)
	}
	var lint LintResult
	f.must(http.StatusBadRequest, "PUT", "/pipelines", pipeline("${file:"+secretFile+"}"), &lint)
	if len(lint.Lints) == 0 || strings.Contains(fmt.Sprint(lint), "file-s3cret") {
		t.Fatalf("a ${file:} reference was not refused cleanly: %+v", lint)
	}
	f.must(http.StatusBadRequest, "PUT", "/pipelines", pipeline(f.dir+"/${HOME}"), &lint)
	var res ApplyResult
	f.must(http.StatusOK, "PUT", "/pipelines?dry_run=true", pipeline(f.dir+"/${VISIBLE}"), &res)
	if !res.DryRun || res.Applied {
		t.Fatalf("dry run applied: %+v", res)
	}
}

// TestCrossSiteRequestsRefused: a web page may not drive the loopback API.
// Browsers send text/plain, form and multipart bodies cross-site without a
// preflight, add an Origin, and with DNS rebinding a foreign Host.
func TestCrossSiteRequestsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	_, port, _ := net.SplitHostPort(f.srv.Addr())
	exfil := `{"name":"steal","config":{"connector":"file","kind":"source","topic":"loot","path":"/etc/passwd"}}`
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		what         string
		method, path string
		body         any
		header       http.Header
		code         int
	}{
		{"text/plain body", "POST", "/connectors", exfil, hdr("Content-Type", "text/plain;charset=UTF-8"), http.StatusUnsupportedMediaType},
		{"form body", "POST", "/connectors", exfil, hdr("Content-Type", "application/x-www-form-urlencoded"), http.StatusUnsupportedMediaType},
		{"multipart body", "POST", "/connectors", exfil, hdr("Content-Type", "multipart/form-data; boundary=x"), http.StatusUnsupportedMediaType},
		{"body without a type", "POST", "/connectors", exfil, hdr(), http.StatusUnsupportedMediaType},
		{"text/plain pipeline", "PUT", "/pipelines", "version: 1\n", hdr("Content-Type", "text/plain"), http.StatusUnsupportedMediaType},
		{"foreign Origin", "POST", "/connectors", exfil, hdr("Content-Type", "application/json", "Origin", "https://evil.example"), http.StatusForbidden},
		{"null Origin", "POST", "/connectors", exfil, hdr("Content-Type", "application/json", "Origin", "null"), http.StatusForbidden},
		{"loopback Origin, other port", "POST", "/connectors", exfil, hdr("Content-Type", "application/json", "Origin", "http://localhost:1"), http.StatusForbidden},
		{"foreign Origin on a read", "GET", "/connectors", nil, hdr("Origin", "http://evil.example"), http.StatusForbidden},
		{"rebound Host", "GET", "/connectors", nil, hdr("Host", "evil.example:"+port), http.StatusForbidden},
		{"rebound Host, same origin", "POST", "/connectors", exfil,
			hdr("Content-Type", "application/json", "Host", "evil.example:"+port, "Origin", "http://evil.example:"+port), http.StatusForbidden},
	} {
		code, body := f.doWith(tc.method, tc.path, tc.body, tc.header)
		if code != tc.code {
			t.Errorf("%s: %s %s answered %d, want %d: %s", tc.what, tc.method, tc.path, code, tc.code, body)
		}
	}
	if names := f.must(http.StatusOK, "GET", "/connectors", nil, nil); strings.Contains(string(names), "steal") {
		t.Fatalf("a refused request created a connector: %s", names)
	}

	// What the CLI, curl and the API's own pages send still works.
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "v", "config": map[string]any{"connector": "vault", "topic": "vaulted", "password": "pw-123"}}, nil)
	for _, tc := range []struct {
		what         string
		method, path string
		body         any
		header       http.Header
	}{
		{"JSON with a charset", "PUT", "/connector-plugins/vault/config/validate", `{"topic":"t","password":"x"}`, hdr("Content-Type", "application/json; charset=utf-8")},
		{"YAML pipeline", "POST", "/pipelines/lint", "version: 1\ntopics:\n  t: {}\n", hdr("Content-Type", "application/yaml")},
		{"x-yaml pipeline", "POST", "/pipelines/lint", "version: 1\ntopics:\n  t: {}\n", hdr("Content-Type", "application/x-yaml")},
		{"same-origin page", "PUT", "/connector-plugins/vault/config/validate", `{"topic":"t","password":"x"}`,
			hdr("Content-Type", "application/json", "Origin", "http://127.0.0.1:"+port)},
		{"localhost page", "GET", "/connectors", nil, hdr("Origin", "http://localhost:"+port, "Host", "localhost:"+port)},
		{"[::1] Host", "GET", "/connectors", nil, hdr("Host", "[::1]:"+port)},
		{"restart without a body", "POST", "/connectors/v/restart", nil, hdr()},
		{"task restart without a body", "POST", "/connectors/v/tasks/0/restart", nil, hdr()},
		{"pause without a body", "PUT", "/connectors/v/pause", nil, hdr()},
		{"resume without a body", "PUT", "/connectors/v/resume", nil, hdr()},
	} {
		if code, body := f.doWith(tc.method, tc.path, tc.body, tc.header); code >= 300 {
			t.Errorf("%s: %s %s answered %d: %s", tc.what, tc.method, tc.path, code, body)
		}
	}
	if code, body := f.doWith("DELETE", "/connectors/v", nil, hdr()); code != http.StatusNoContent {
		t.Errorf("DELETE without a body: %d %s", code, body)
	}
}

// TestAnyHostBeyondLoopback: a listener beyond loopback has a token and
// answers to whatever name the operator put in front of it.
func TestAnyHostBeyondLoopback(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{Addr: "0.0.0.0:0", Token: "tok-123"})
	if code, body := f.doWith("GET", "/connectors", nil, http.Header{"Host": {"braid.internal:8083"}}); code != http.StatusOK {
		t.Fatalf("Host braid.internal beyond loopback: %d %s", code, body)
	}
	h := http.Header{"Host": {"braid.internal"}, "Origin": {"https://evil.example"}}
	if code, body := f.doWith("GET", "/connectors", nil, h); code != http.StatusForbidden {
		t.Fatalf("foreign Origin beyond loopback: %d %s", code, body)
	}
}

// TestURLPasswordsNeverShown: a password in a URL setting (the http sink's
// url) is hidden wherever the config is shown, like a secret setting.
func TestURLPasswordsNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-in-url"
	f := newFixtureWith(t, Options{}, httpconn.SinkPlugin())
	target := "http://user:" + secret + "@127.0.0.1:1/x/{{.Offset}}"
	cfg := map[string]any{"connector": "http", "topics": "hooks", "url": target}
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "hook", "config": cfg}, nil)
	var shown map[string]any
	f.must(http.StatusOK, "GET", "/connectors/hook/config", nil, &shown)
	if shown["url"] != "http://user:[hidden]@127.0.0.1:1/x/{{.Offset}}" {
		t.Errorf("url shown as %v", shown["url"])
	}
	for _, path := range []string{"/connectors/hook", "/connectors/hook/tasks", "/connectors?expand=info&expand=status"} {
		f.must(http.StatusOK, "GET", path, nil, nil)
	}
	f.must(http.StatusOK, "PUT", "/connector-plugins/http/config/validate", cfg, nil)
	cfg["url"] = target + "/v2"
	f.must(http.StatusOK, "PUT", "/connectors/hook/config", cfg, nil)

	yaml := func(pw string) string {
		return "version: 1\nname: urls\ntopics:\n  hooks: {}\nsinks:\n  ph:\n    connector: http\n    topics: [hooks]\n" +
			"    config: { url: \"http://user:" + pw + "@127.0.0.1:1/y\" }\n"
	}
	f.must(http.StatusOK, "PUT", "/pipelines", yaml(secret), nil)
	f.must(http.StatusOK, "GET", "/pipelines", nil, nil)
	f.must(http.StatusOK, "PUT", "/pipelines?dry_run=true", yaml(secret+"-2"), nil)
	f.must(http.StatusOK, "GET", "/connectors/ph/config", nil, nil)

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.bodies {
		if strings.Contains(b, secret) {
			t.Errorf("a response shows the URL's password: %s", b)
		}
	}
	if logs := f.logs.String(); strings.Contains(logs, secret) {
		t.Errorf("the log shows the URL's password:\n%s", logs)
	}
}
