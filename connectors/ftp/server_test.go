package ftp

import (
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/braidhq/braid/internal/testcert"
)

// testServer is fclairamb/ftpserverlib on a loopback port serving a local
// directory through afero (see docs/connectors/ftp.md for why it, and not
// vsftpd, runs in the tests).
type testServer struct {
	srv    *ftpserver.FtpServer
	root   string
	caFile string
	port   int
}

const (
	testUser     = "braid"
	testPassword = "s3cret-only-for-tests"
)

type driver struct {
	settings *ftpserver.Settings
	root     string
	tls      *tls.Config
}

func (d *driver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

func (d *driver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "braid test server", nil
}

func (d *driver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *driver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if user != testUser || pass != testPassword {
		return nil, errors.New("bad login")
	}
	return afero.NewBasePathFs(afero.NewOsFs(), d.root), nil
}

func (d *driver) GetTLSConfig() (*tls.Config, error) {
	return d.tls, nil
}

func startServer(t testing.TB, mode ftpserver.TLSRequirement, disableMLSD bool) *testServer {
	t.Helper()
	cert := testcert.New(t)
	root := t.TempDir()
	d := &driver{root: root, tls: cert.Server, settings: &ftpserver.Settings{
		ListenAddr: "127.0.0.1:0", PublicHost: "127.0.0.1", TLSRequired: mode, DisableMLSD: disableMLSD, DisableMLST: disableMLSD,
		PassiveTransferPortRange: nil, IdleTimeout: 60, ConnectionTimeout: 10, DisableActiveMode: true,
	}}
	srv := ftpserver.NewFtpServer(d)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Stop() })
	_, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)
	return &testServer{srv: srv, root: root, caFile: cert.CertFile, port: p}
}

func (ts *testServer) config(tlsMode string, extra map[string]any) map[string]any {
	m := map[string]any{
		"host": "127.0.0.1", "port": ts.port, "user": testUser, "password": testPassword,
		"tls": tlsMode, "tls.ca.file": ts.caFile,
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
