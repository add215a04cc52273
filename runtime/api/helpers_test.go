package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/braidhq/braid/internal/logbuf"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/schema/registry"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// syncBuffer collects log output from many goroutines.
type syncBuffer = logbuf.Buffer

// vaultSpec is a test source with a secret setting. With fail set, Open
// fails with an error that quotes the password, as a careless driver might.
var vaultSpec = sdk.Spec{Name: "vault", Kind: sdk.KindSource, Summary: "test source holding a secret", Version: "1.0",
	Fields: []sdk.Field{
		{Name: "password", Type: sdk.TypeString, Required: true, Secret: true, Doc: "the secret"},
		{Name: "user", Type: sdk.TypeString, Default: "admin", Doc: "the user"},
		{Name: "fail", Type: sdk.TypeBool, Default: false, Doc: "fail on open"},
	}}

type vaultSource struct {
	cfg sdk.Config
}

func (v *vaultSource) Open(context.Context, sdk.Position) error {
	if v.cfg.Bool("fail") {
		return fmt.Errorf("login as %s with password %s refused", v.cfg.String("user"), v.cfg.String("password"))
	}
	return nil
}

func (v *vaultSource) Read(ctx context.Context) ([]sdk.Record, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (v *vaultSource) Ack(context.Context, sdk.Position) error { return nil }
func (v *vaultSource) Close(context.Context) error             { return nil }

func testPlugins() sdk.Plugins {
	builtin.RegisterConverters()
	// A fixed list, so golden files do not change as connectors are added.
	return append(sdk.Plugins{file.SourcePlugin(), file.SinkPlugin()}, sdk.Plugin{Spec: vaultSpec,
		NewSource: func(cfg sdk.Config, _ sdk.Env) (sdk.Source, error) { return &vaultSource{cfg: cfg}, nil }})
}

// engineRegistry in Options.SchemaRegistry asks newFixtureWith to serve
// the engine's own registry (the one the records route decodes with), as
// braid run does.
type engineRegistry struct{ http.Handler }

// fixture is a running engine with its API.
type fixture struct {
	t      *testing.T
	eng    *engine.Engine
	srv    *Server
	base   string
	token  string
	logs   *syncBuffer
	levels *Levels
	dir    string
	bodies []string // every response body, for the secret check
	mu     sync.Mutex
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	return newFixtureWith(t, opts)
}

// newFixtureWith is newFixture with more connector types than testPlugins.
func newFixtureWith(t *testing.T, opts Options, extra ...sdk.Plugin) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	logger, levels := Leveled(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	dir := t.TempDir()
	eng, err := engine.Start(ctx, engine.Options{NATS: natsd.Config{DataDir: filepath.Join(dir, "data")},
		Plugins: append(testPlugins(), extra...), Logger: logger, DataDir: filepath.Join(dir, "data"), WorkerID: "worker-test"})
	if err != nil {
		cancel()
		t.Fatalf("start engine: %v", err)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.AllowPaths == nil {
		opts.AllowPaths = []string{dir} // the tests' files live there
	}
	if _, ok := opts.SchemaRegistry.(engineRegistry); ok {
		opts.SchemaRegistry = registry.Handler(eng.Schemas, logger)
	}
	opts.Logger, opts.Levels, opts.Version = logger, levels, "test"
	srv := New(eng, opts)
	if err := srv.Start(ctx); err != nil {
		cancel()
		t.Fatalf("start api: %v", err)
	}
	_, port, _ := strings.Cut(srv.Addr(), "]:")
	if port == "" {
		_, port, _ = strings.Cut(srv.Addr(), ":")
	}
	f := &fixture{t: t, eng: eng, srv: srv, base: "http://127.0.0.1:" + port, token: opts.Token, logs: logs, levels: levels, dir: dir}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		_ = eng.Close(sctx)
		cancel()
	})
	return f
}

// do sends a request and returns status and body; the body is kept for the
// secret check. Like the CLI it labels bodies: YAML for /pipelines, JSON
// elsewhere.
func (f *fixture) do(method, path string, body any) (int, []byte) {
	f.t.Helper()
	header := http.Header{}
	if body != nil {
		header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/pipelines") {
			header.Set("Content-Type", "application/yaml")
		}
	}
	return f.doWith(method, path, body, header)
}

// doWith is do with the given request headers (and Host, when set there).
func (f *fixture) doWith(method, path string, body any, header http.Header) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, string(data))
	f.mu.Unlock()
	return resp.StatusCode, data
}

// must sends a request that must answer code, and decodes the body into out.
func (f *fixture) must(code int, method, path string, body, out any) []byte {
	f.t.Helper()
	got, data := f.do(method, path, body)
	if got != code {
		f.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, code, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			f.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return data
}

// eventually polls cond until it holds or 15s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// volatile keys are replaced in golden files.
var volatile = map[string]bool{"bytes": true, "timestamp": true, "created": true, "position": true, "commit": true}

func normalize(v any, dir string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if volatile[k] {
				x[k] = "<" + k + ">"
				continue
			}
			x[k] = normalize(e, dir)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e, dir)
		}
	case string:
		return strings.ReplaceAll(x, dir, "$DIR")
	}
	return v
}

// golden compares a JSON body (normalised) with testdata/<name>.golden.
func (f *fixture) golden(name string, code int, data []byte) {
	f.t.Helper()
	var v any
	out := data
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			f.t.Fatalf("%s: not JSON: %s", name, data)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(normalize(v, f.dir)); err != nil {
			f.t.Fatal(err)
		}
		out = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	out = append([]byte(fmt.Sprintf("HTTP %d\n", code)), out...)
	out = append(out, '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		f.t.Fatalf("%s missing; run go test -run %s -update", path, f.t.Name())
	}
	if err != nil {
		f.t.Fatal(err)
	}
	if !bytes.Equal(want, out) {
		f.t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", path, want, out)
	}
}

// get requests a route and checks it against its golden file.
func (f *fixture) get(name string, code int, method, path string, body any) []byte {
	f.t.Helper()
	got, data := f.do(method, path, body)
	if got != code {
		f.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, code, data)
	}
	f.golden(name, got, data)
	return data
}
