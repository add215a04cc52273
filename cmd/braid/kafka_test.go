package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/internal/testcert"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/kafka"
)

// TestKafkaStatusAuth: braid run's Kafka flags load users and a
// certificate, and braid kafka status connects with --user and --tls-ca,
// and fails without them.
func TestKafkaStatusAuth(t *testing.T) {
	t.Parallel()
	eng := startTestEngine(t, builtin.Plugins(), slog.New(slog.DiscardHandler))
	cert := testcert.New(t)
	dir := t.TempDir()
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := braidCLI(t, "kafka", "verifier", "carol", "--password-file", passFile)
	if err != nil || !strings.HasPrefix(v, "carol:SCRAM-SHA-256$4096:") {
		t.Fatalf("kafka verifier: %v\n%s", err, v)
	}
	usersFile := filepath.Join(dir, "users")
	if err := os.WriteFile(usersFile, []byte("# test\nalice:s3cret\n"+v), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &runFlags{kafka: "127.0.0.1:0", kafkaSet: true, kafkaUsers: usersFile, kafkaTLSCert: cert.CertFile, kafkaTLSKey: cert.KeyFile}
	opts, err := kafkaOptions(f, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Addr = "127.0.0.1:0"
	srv := kafka.New(eng.Log, opts)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, args := range [][]string{
		{"--user", "alice", "--password-file", passFile, "--tls-ca", cert.CertFile},
		{"--user", "carol", "--password-file", passFile, "--mechanism", "PLAIN", "--tls-ca", cert.CertFile},
		{"--user", "carol", "--password-file", passFile, "--insecure-skip-verify"},
	} {
		out, err := braidCLI(t, append([]string{"kafka", "status", "--addr", srv.Addr()}, args...)...)
		if err != nil || !strings.Contains(out, "cluster") {
			t.Fatalf("kafka status %v: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{
		{"--tls-ca", cert.CertFile},                                                  // no user
		{"--user", "alice", "--password-file", passFile},                             // no TLS
		{"--user", "alice", "--password-file", usersFile, "--tls-ca", cert.CertFile}, // wrong password
		{"--user", "alice", "--mechanism", "GSSAPI", "--password-file", passFile},    // unknown mechanism
	} {
		if out, err := braidCLI(t, append([]string{"kafka", "status", "--addr", srv.Addr()}, args...)...); err == nil {
			t.Fatalf("kafka status %v succeeded:\n%s", args, out)
		}
	}
}

// TestKafkaFiles: flags override the pipeline file's kafka section, and the
// files are kept from connectors created over the API.
func TestKafkaFiles(t *testing.T) {
	t.Parallel()
	p := &pipelines.Pipeline{Kafka: &pipelines.Kafka{Users: "/p/users", TLS: pipelines.TLS{Cert: "/p/cert", Key: "/p/key"}}}
	if u, c, k := kafkaFiles(&runFlags{}, p); u != "/p/users" || c != "/p/cert" || k != "/p/key" {
		t.Fatalf("from the pipeline: %s %s %s", u, c, k)
	}
	f := &runFlags{kafkaUsers: "/f/users", kafkaTLSCert: "/f/cert", kafkaTLSKey: "/f/key"}
	if u, c, k := kafkaFiles(f, p); u != "/f/users" || c != "/f/cert" || k != "/f/key" {
		t.Fatalf("from the flags: %s %s %s", u, c, k)
	}
	if _, deny := f.apiPaths(); !strings.Contains(strings.Join(deny, " "), "/f/users") || !strings.Contains(strings.Join(deny, " "), "/f/key") {
		t.Fatalf("deny %v", deny)
	}
	if _, err := kafkaOptions(&runFlags{kafkaTLSCert: "/f/cert"}, nil, nil); err == nil {
		t.Fatal("a certificate without a key was accepted")
	}
}
