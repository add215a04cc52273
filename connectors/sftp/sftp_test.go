package sftp

import (
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/braidhq/braid/connectors/internal/remotefs/remotefstest"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sftp/sftptest"
)

func harness(t *testing.T) remotefstest.Harness {
	ts := startServer(t)
	root := t.TempDir()
	return remotefstest.Harness{Source: SourcePlugin(), Sink: SinkPlugin(), Config: ts.config, Local: root, Remote: root, Drop: ts.Drop}
}

func TestSource(t *testing.T) { remotefstest.RunSource(t, harness(t)) }

func TestSink(t *testing.T) { remotefstest.RunSink(t, harness(t)) }

// TestOpenSSHSFTPServer runs the suites against OpenSSH's own SFTP server
// (Debian's openssh-sftp-server, behind the test's SSH server): the
// implementation partners run.
func TestOpenSSHSFTPServer(t *testing.T) {
	s, err := sftptest.StartWith(sftptest.OpenSSHSFTPServer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	root := t.TempDir()
	h := remotefstest.Harness{Source: SourcePlugin(), Sink: SinkPlugin(), Config: s.Config, Local: root, Remote: root, Drop: s.Drop}
	remotefstest.RunSource(t, h)
	remotefstest.RunSink(t, h)
}

func TestHostKey(t *testing.T) {
	ts := startServer(t)
	dir := t.TempDir()
	fp := ts.fingerprint()
	line := "[" + ts.host() + "]:" + strings.Split(ts.Addr, ":")[1] + " " + string(ssh.MarshalAuthorizedKey(ts.HostKey.PublicKey()))
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(line), 0o600)
	other := filepath.Join(dir, "other_hosts")
	os.WriteFile(other, []byte("["+ts.host()+"]:"+strings.Split(ts.Addr, ":")[1]+" "+string(ssh.MarshalAuthorizedKey(newSigner(t).PublicKey()))), 0o600)
	pubKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ts.HostKey.PublicKey())))

	base := ts.config(nil)
	delete(base, "host.key")
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name string
		raw  map[string]any
		want string // "" for success
	}{
		{"unknown key refused with its fingerprint", with(), "set host.key: \"" + fp + "\""},
		{"pinned fingerprint", with("host.key", fp), ""},
		{"pinned public key", with("host.key", pubKey), ""},
		{"wrong pinned fingerprint", with("host.key", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), fp},
		{"known_hosts", with("known.hosts", known), ""},
		{"changed key in known_hosts", with("known.hosts", other), "is not the one known.hosts holds"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := remotefstest.OpenErr(t, SourcePlugin(), c.raw)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("dial: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("dial: %v, want an error containing %q", err, c.want)
			case c.want != "" && !sdk.IsFatal(err):
				t.Fatalf("an untrusted host key is not a fatal error: %v", err)
			}
			var hk *HostKeyError
			if c.want != "" && !errors.As(err, &hk) {
				t.Fatalf("error %v is not a *HostKeyError", err)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	ts := startServer(t)
	block, err := ssh.MarshalPrivateKey(ts.UserKeyPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(block))
	keyFile := filepath.Join(t.TempDir(), "id")
	os.WriteFile(keyFile, []byte(keyPEM), 0o600)
	for _, c := range []struct {
		name  string
		raw   map[string]any
		fatal string
	}{
		{"password", ts.config(nil), ""},
		{"private key", ts.config(map[string]any{"password": nil, "private.key": keyPEM}), ""},
		{"private key file", ts.config(map[string]any{"password": nil, "private.key.file": keyFile}), ""},
		{"wrong password", ts.config(map[string]any{"password": "nope"}), "refused the login"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := remotefstest.OpenErr(t, SourcePlugin(), c.raw)
			switch {
			case c.fatal == "" && err != nil:
				t.Fatalf("dial: %v", err)
			case c.fatal != "" && (err == nil || !sdk.IsFatal(err) || !strings.Contains(err.Error(), c.fatal)):
				t.Fatalf("dial: %v, want a fatal error containing %q", err, c.fatal)
			}
			if err != nil && strings.Contains(err.Error(), testPassword) {
				t.Fatal("the error shows the password")
			}
		})
	}
}
