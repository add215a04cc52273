package ftp

import (
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/braidhq/braid/connectors/ftp/ftptest"
	"github.com/braidhq/braid/internal/testcert"
)

const testPassword = ftptest.Password

// testServer is the test FTP server (see docs/connectors/ftp.md for why
// it, and not vsftpd, runs in the tests) and the CA file that trusts it.
type testServer struct {
	*ftptest.Server
	root, caFile string
}

func startServer(t testing.TB, mode ftpserver.TLSRequirement, disableMLSD bool) *testServer {
	t.Helper()
	cert := testcert.New(t)
	root := t.TempDir()
	s, err := ftptest.Start(ftptest.Options{Root: root, TLS: cert.Server, Mode: mode, DisableMLSD: disableMLSD})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &testServer{Server: s, root: root, caFile: cert.CertFile}
}

func (ts *testServer) config(tlsMode string, extra map[string]any) map[string]any {
	m := ts.Config(tlsMode, extra)
	if _, ok := m["tls.ca.file"]; !ok {
		m["tls.ca.file"] = ts.caFile
	}
	return m
}
