package sftp

import (
	"testing"

	"github.com/braidhq/braid/connectors/sftp/sftptest"
	"golang.org/x/crypto/ssh"
)

const (
	testUser     = sftptest.User
	testPassword = sftptest.Password
)

// startServer runs the test SFTP server (see docs/connectors/sftp.md for
// why it, and not OpenSSH's sshd, runs in the tests).
func startServer(t testing.TB) *testServer {
	t.Helper()
	s, err := sftptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &testServer{s}
}

type testServer struct{ *sftptest.Server }

func (ts *testServer) host() string                               { return ts.Host() }
func (ts *testServer) port() int                                  { return ts.Port() }
func (ts *testServer) fingerprint() string                        { return ts.Fingerprint() }
func (ts *testServer) config(extra map[string]any) map[string]any { return ts.Config(extra) }

func newSigner(t testing.TB) ssh.Signer {
	s, _, err := sftptest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
