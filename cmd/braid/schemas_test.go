package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/braidhq/braid/schema/registry"
)

// runSchemas runs `braid schemas ARGS...` against server and returns stdout.
func runSchemas(t *testing.T, server string, args ...string) (string, error) {
	t.Helper()
	cmd := newSchemasCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "--server", server))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestSchemasCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.Handler(registry.New(registry.NewMemStore(), nil), nil))
	defer srv.Close()
	dir := t.TempDir()
	v1 := filepath.Join(dir, "user.avsc")
	v2 := filepath.Join(dir, "user2.avsc")
	os.WriteFile(v1, []byte(`{"type":"record","name":"U","fields":[{"name":"a","type":"int"}]}`), 0o600)
	os.WriteFile(v2, []byte(`{"type":"record","name":"U","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}`), 0o600)

	out, err := runSchemas(t, srv.URL, "register", "users-value", v1)
	if err != nil || !strings.Contains(out, "id 1") {
		t.Fatalf("register: %q %v", out, err)
	}
	out, err = runSchemas(t, srv.URL, "list")
	if err != nil || !strings.Contains(out, "users-value") {
		t.Fatalf("list: %q %v", out, err)
	}
	out, err = runSchemas(t, srv.URL, "get", "users-value")
	if err != nil || !strings.Contains(out, `"name":"U"`) {
		t.Fatalf("get: %q %v", out, err)
	}
	out, err = runSchemas(t, srv.URL, "check", "users-value", v2)
	var ee exitError
	if !errors.As(err, &ee) || !strings.Contains(out, "READER_FIELD_MISSING_DEFAULT_VALUE") {
		t.Fatalf("check: %q %v", out, err)
	}
	_, err = runSchemas(t, srv.URL, "register", "users-value", v2)
	if err == nil || !strings.Contains(err.Error(), "incompatible") {
		t.Fatalf("register incompatible: %v", err)
	}
	if out, err = runSchemas(t, srv.URL, "config", "users-value", "--set", "none"); err != nil || strings.TrimSpace(out) != "NONE" {
		t.Fatalf("config: %q %v", out, err)
	}
	if _, err = runSchemas(t, srv.URL, "register", "users-value", v2); err != nil {
		t.Fatal(err)
	}
	if _, err = runSchemas(t, srv.URL, "delete", "users-value", "--permanent"); err == nil {
		t.Fatal("hard delete before soft delete succeeded")
	}
	if out, err = runSchemas(t, srv.URL, "delete", "users-value"); err != nil || !strings.Contains(out, "[1,2]") {
		t.Fatalf("delete: %q %v", out, err)
	}
	if out, err = runSchemas(t, srv.URL, "get", "--id", "2", "-o", "json"); err != nil || !strings.Contains(out, `"schema"`) {
		t.Fatalf("get --id: %q %v", out, err)
	}
}
