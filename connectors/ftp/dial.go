package ftp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/braidhq/braid/connectors/internal/remotefs"
	"github.com/braidhq/braid/connectors/sdk"
)

func newDialer(cfg sdk.Config, _ sdk.Env) (remotefs.Dialer, error) {
	mode := cfg.String("tls")
	port := cfg.Int("port")
	if port == 0 {
		port = 21
		if mode == tlsImplicit {
			port = 990
		}
	}
	host := cfg.String("host")
	addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
	timeout := cfg.Duration("timeout")
	var tc *tls.Config
	if mode != tlsNone {
		tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12,
			// Data connections resume the control connection's session,
			// which many servers (vsftpd's require_ssl_reuse) insist on.
			ClientSessionCache: tls.NewLRUClientSessionCache(8)}
		if n := cfg.String("tls.server.name"); n != "" {
			tc.ServerName = n
		}
		if f := cfg.String("tls.ca.file"); f != "" {
			pemBytes, err := os.ReadFile(f)
			if err != nil {
				return nil, sdk.Fatal(fmt.Errorf("ftp: tls.ca.file: %w", err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, sdk.Fatal(fmt.Errorf("ftp: tls.ca.file: %s holds no PEM certificate", f))
			}
			tc.RootCAs = pool
		}
		tc.InsecureSkipVerify = cfg.Bool("tls.insecure.skip.verify") //nolint:gosec // asked for explicitly, for tests
	}
	user, password := cfg.String("user"), cfg.String("password")
	epsv, mlsd := cfg.Bool("epsv"), cfg.Bool("mlsd")
	return func(ctx context.Context) (remotefs.FS, error) {
		opts := []ftp.DialOption{ftp.DialWithDialFunc(idleDialer(ctx, mode, tc, timeout)),
			ftp.DialWithDisabledEPSV(!epsv), ftp.DialWithDisabledMLSD(!mlsd), ftp.DialWithShutTimeout(timeout)}
		switch mode {
		case tlsExplicit:
			opts = append(opts, ftp.DialWithExplicitTLS(tc))
		case tlsImplicit:
			opts = append(opts, ftp.DialWithTLS(tc))
		}
		c, err := ftp.Dial(addr, opts...)
		if err != nil {
			return nil, classify(err, "connect", addr, mode, user)
		}
		// With explicit TLS, Login sends AUTH TLS first.
		if err := c.Login(user, password); err != nil {
			c.Quit()
			return nil, classify(err, "log in to", addr, mode, user)
		}
		return &ftpFS{c: c}, nil
	}, nil
}

// idleDialer opens the control connection (its first call, bounded by ctx)
// and then the data connections of one FTP session, each behind an
// idleConn, so a server that stops answering — a reply that never comes, a
// transfer that stalls, an upload it stops reading — fails the operation
// after timeout instead of hanging it. A custom dial function takes TLS
// over from the library: implicit FTPS wraps every connection, explicit
// FTPS the data connections (the library upgrades the control connection
// after AUTH TLS itself); the handshake runs on first use, as the
// library's own data connections do.
func idleDialer(ctx context.Context, mode string, tc *tls.Config, timeout time.Duration) func(network, addr string) (net.Conn, error) {
	control := true
	d := net.Dialer{Timeout: timeout}
	return func(network, addr string) (net.Conn, error) {
		dctx := context.Background()
		if control {
			dctx = ctx
		}
		raw, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := net.Conn(&idleConn{Conn: raw, timeout: timeout})
		if mode == tlsImplicit || (mode == tlsExplicit && !control) {
			conn = tls.Client(conn, tc)
		}
		control = false
		return conn, nil
	}
}

// idleConn gives each read and write timeout to make progress.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// classify marks what retrying cannot fix as fatal, with what to do.
func classify(err error, what, addr, mode, user string) error {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return sdk.Fatal(fmt.Errorf("ftp: %s: the server's certificate is not trusted: %v (set tls.ca.file to its CA, or tls.server.name to a name it holds)", addr, cv.Err))
	}
	if tp, ok := errors.AsType[*textproto.Error](err); ok {
		switch {
		case tp.Code == ftp.StatusNotLoggedIn:
			return sdk.Fatal(fmt.Errorf("ftp: %s refused the login of user %q: check user and password", addr, user))
		case mode == tlsExplicit && strings.Contains(strings.ToUpper(tp.Msg), "AUTH"):
			return sdk.Fatal(fmt.Errorf("ftp: %s refused AUTH TLS (%d %s): the server has no explicit FTPS; try tls: implicit, or tls: none on a trusted network", addr, tp.Code, tp.Msg))
		}
	}
	return sdk.Retryable(fmt.Errorf("ftp: %s %s: %w", what, addr, err))
}

// ftpFS is one logged-in FTP control connection.
type ftpFS struct {
	c *ftp.ServerConn
}

// notExist maps the 550 replies for missing files to fs.ErrNotExist.
func notExist(err error) error {
	if tp, ok := errors.AsType[*textproto.Error](err); ok && tp.Code == ftp.StatusFileUnavailable {
		return fmt.Errorf("%w: %s", fs.ErrNotExist, tp.Msg)
	}
	return err
}

func (f *ftpFS) List(_ context.Context, dir string) ([]remotefs.Entry, error) {
	entries, err := f.c.List(dir)
	if err != nil {
		return nil, notExist(err)
	}
	out := make([]remotefs.Entry, 0, len(entries))
	for _, e := range entries {
		if e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			continue
		}
		switch e.Type {
		case ftp.EntryTypeFile:
			out = append(out, remotefs.Entry{Path: path.Join(dir, e.Name), Size: int64(e.Size), ModTime: e.Time})
		case ftp.EntryTypeFolder:
			out = append(out, remotefs.Entry{Path: path.Join(dir, e.Name), Dir: true})
		}
	}
	return out, nil
}

func (f *ftpFS) Open(_ context.Context, p string, off int64) (io.ReadCloser, error) {
	r, err := f.c.RetrFrom(p, uint64(off))
	if err != nil {
		return nil, notExist(err)
	}
	return r, nil
}

func (f *ftpFS) Upload(_ context.Context, p string, r io.Reader) error {
	return f.c.Stor(p, r)
}

func (f *ftpFS) Rename(_ context.Context, from, to string) error {
	err := f.c.Rename(from, to)
	if err == nil {
		return nil
	}
	// Some servers refuse to rename onto an existing file: remove it and
	// try again, but only when from is still there (else the rename
	// happened after all, or there is nothing to rename, and removing to
	// would lose the file).
	if _, serr := f.c.FileSize(from); serr != nil {
		return notExist(err)
	}
	if _, serr := f.c.FileSize(to); serr != nil {
		return notExist(err) // to is not in the way: the refusal has another reason
	}
	if err := f.c.Delete(to); err != nil {
		return notExist(err)
	}
	return notExist(f.c.Rename(from, to))
}

func (f *ftpFS) Remove(_ context.Context, p string) error { return notExist(f.c.Delete(p)) }

// MkdirAll creates each missing directory of dir; FTP has no "exists"
// reply, so a MKD that fails is checked by changing into the directory.
func (f *ftpFS) MkdirAll(_ context.Context, dir string) error {
	dir = path.Clean(dir)
	if dir == "/" || dir == "." {
		return nil
	}
	cur := ""
	if path.IsAbs(dir) {
		cur = "/"
	}
	for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
		cur = path.Join(cur, part)
		if err := f.c.MakeDir(cur); err != nil {
			if cerr := f.c.ChangeDir(cur); cerr != nil {
				return fmt.Errorf("create directory %s: %w", cur, err)
			}
		}
	}
	return nil
}

func (f *ftpFS) Close() error { return f.c.Quit() }
