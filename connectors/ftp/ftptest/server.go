// Package ftptest runs an FTP server on a loopback port for tests and
// benchmarks: fclairamb/ftpserverlib serving a local directory through
// afero, with one user and, for FTPS, the TLS configuration given.
package ftptest

import (
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// The server's only user.
const (
	User     = "braid"
	Password = "s3cret-only-for-tests"
)

// Options configure a server.
type Options struct {
	Root        string                   // directory served as /
	TLS         *tls.Config              // server certificate, for FTPS
	Mode        ftpserver.TLSRequirement // ClearOrEncrypted, MandatoryEncryption, ImplicitEncryption
	DisableMLSD bool                     // a server that only lists with LIST
}

// Server is a running FTP server.
type Server struct {
	srv  *ftpserver.FtpServer
	ln   *trackingListener
	Port int
}

// trackingListener remembers the control connections, for Drop.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// Drop cuts every control connection, as a network failure would.
func (s *Server) Drop() {
	s.ln.mu.Lock()
	defer s.ln.mu.Unlock()
	for _, c := range s.ln.conns {
		c.Close()
	}
	s.ln.conns = nil
}

type driver struct {
	o        Options
	settings *ftpserver.Settings
}

func (d *driver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

func (d *driver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "braid test server", nil
}

func (d *driver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *driver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if user != User || pass != Password {
		return nil, errors.New("bad login")
	}
	return afero.NewBasePathFs(afero.NewOsFs(), d.o.Root), nil
}

func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.o.TLS == nil {
		return nil, errors.New("no TLS configured")
	}
	return d.o.TLS, nil
}

// Start starts a server on a free loopback port.
func Start(o Options) (*Server, error) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ln := &trackingListener{Listener: raw}
	if o.Mode == ftpserver.ImplicitEncryption {
		ln.Listener = tls.NewListener(raw, o.TLS)
	}
	d := &driver{o: o, settings: &ftpserver.Settings{
		Listener: ln, PublicHost: "127.0.0.1", TLSRequired: o.Mode,
		DisableMLSD: o.DisableMLSD, DisableMLST: o.DisableMLSD,
		IdleTimeout: 60, ConnectionTimeout: 10, DisableActiveMode: true,
	}}
	srv := ftpserver.NewFtpServer(d)
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	go srv.Serve()
	_, port, _ := net.SplitHostPort(raw.Addr().String())
	p, _ := strconv.Atoi(port)
	return &Server{srv: srv, ln: ln, Port: p}, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Stop() }

// Config is a working ftp connector config for tlsMode (none, explicit,
// implicit) plus extra.
func (s *Server) Config(tlsMode string, extra map[string]any) map[string]any {
	m := map[string]any{"host": "127.0.0.1", "port": s.Port, "user": User, "password": Password, "tls": tlsMode}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
