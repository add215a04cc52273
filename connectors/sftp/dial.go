package sftp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/braidhq/braid/connectors/internal/remotefs"
	"github.com/braidhq/braid/connectors/sdk"
)

// newDialer reads keys and host-key settings once; each Dial opens a new
// SSH connection with one SFTP session.
func newDialer(cfg sdk.Config, _ sdk.Env) (remotefs.Dialer, error) {
	addr := net.JoinHostPort(cfg.String("host"), strconv.FormatInt(cfg.Int("port"), 10))
	auth, err := authMethods(cfg)
	if err != nil {
		return nil, err
	}
	hk, err := hostKeyCallback(cfg)
	if err != nil {
		return nil, err
	}
	conf := &ssh.ClientConfig{
		User:            cfg.String("user"),
		Auth:            auth,
		HostKeyCallback: hk,
		Timeout:         cfg.Duration("timeout"),
	}
	timeout := cfg.Duration("timeout")
	return func(ctx context.Context) (remotefs.FS, error) {
		return dial(ctx, addr, conf, timeout)
	}, nil
}

func authMethods(cfg sdk.Config) ([]ssh.AuthMethod, error) {
	var out []ssh.AuthMethod
	key := []byte(cfg.String("private.key"))
	if f := cfg.String("private.key.file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, sdk.Fatal(fmt.Errorf("sftp: private.key.file: %w", err))
		}
		key = b
	}
	if len(key) > 0 {
		var signer ssh.Signer
		var err error
		if pp := cfg.String("private.key.passphrase"); pp != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase(key, []byte(pp))
		} else {
			signer, err = ssh.ParsePrivateKey(key)
		}
		if err != nil {
			// The key's bytes never go into the message.
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, sdk.Fatal(errors.New("sftp: private.key is encrypted: set private.key.passphrase"))
			}
			return nil, sdk.Fatal(fmt.Errorf("sftp: private.key is not a valid private key: %s", strings.SplitN(err.Error(), "\n", 2)[0]))
		}
		out = append(out, ssh.PublicKeys(signer))
	}
	if pw := cfg.String("password"); pw != "" {
		out = append(out, ssh.Password(pw), ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			answers := make([]string, len(qs))
			for i := range answers {
				answers[i] = pw
			}
			return answers, nil
		}))
	}
	return out, nil
}

// HostKeyError is an untrusted host key; its message names the fingerprint
// to pin.
type HostKeyError struct {
	Addr        string
	Type        string
	Fingerprint string
	Changed     bool // known.hosts holds another key for this host
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("sftp: the host key of %s (%s %s) is not the one known.hosts holds for it: "+
			"the server's key changed or someone is in between; check with the server's owner before trusting the new key",
			e.Addr, e.Type, e.Fingerprint)
	}
	return fmt.Sprintf("sftp: the host key of %s is not trusted: %s %s; after checking that fingerprint with the server's owner, "+
		"set host.key: %q or add the key to known.hosts", e.Addr, e.Type, e.Fingerprint, e.Fingerprint)
}

func hostKeyCallback(cfg sdk.Config) (ssh.HostKeyCallback, error) {
	if cfg.Bool("insecure.skip.host.key.check") {
		return ssh.InsecureIgnoreHostKey(), nil //nolint:gosec // asked for explicitly, for tests
	}
	var known ssh.HostKeyCallback
	if f := cfg.String("known.hosts"); f != "" {
		cb, err := knownhosts.New(f)
		if err != nil {
			return nil, sdk.Fatal(fmt.Errorf("sftp: known.hosts: %w", err))
		}
		known = cb
	}
	pin := strings.TrimSpace(cfg.String("host.key"))
	var pinned ssh.PublicKey
	if pin != "" && !strings.HasPrefix(pin, "SHA256:") {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pin))
		if err != nil {
			return nil, sdk.Fatal(fmt.Errorf("sftp: host.key: not a SHA256 fingerprint nor a public key: %v", err))
		}
		pinned = k
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		fp := ssh.FingerprintSHA256(key)
		switch {
		case pinned != nil && bytes.Equal(pinned.Marshal(), key.Marshal()):
			return nil
		case pin != "" && pinned == nil && subtle.ConstantTimeCompare([]byte(strings.TrimRight(pin, "=")), []byte(fp)) == 1:
			return nil
		}
		if known != nil {
			err := known(hostname, remote, key)
			if err == nil {
				return nil
			}
			var ke *knownhosts.KeyError
			if errors.As(err, &ke) && len(ke.Want) > 0 {
				return sdk.Fatal(&HostKeyError{Addr: hostname, Type: key.Type(), Fingerprint: fp, Changed: true})
			}
		}
		return sdk.Fatal(&HostKeyError{Addr: hostname, Type: key.Type(), Fingerprint: fp})
	}, nil
}

func dial(ctx context.Context, addr string, conf *ssh.ClientConfig, timeout time.Duration) (remotefs.FS, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("sftp: connect %s: %w", addr, err))
	}
	stop := context.AfterFunc(dctx, func() { nc.Close() })
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, conf)
	if !stop() {
		err = dctx.Err() // the handshake was cut short: say why, not "use of closed network connection"
		if ctx.Err() == nil {
			err = fmt.Errorf("no answer within the timeout of %v", timeout)
		}
	}
	if err != nil {
		nc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, sdk.Fatal(hk)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, sdk.Fatal(fmt.Errorf("sftp: %s refused the login of user %q: check password or private.key", addr, conf.User))
		}
		return nil, sdk.Retryable(fmt.Errorf("sftp: ssh handshake with %s: %w", addr, err))
	}
	client := ssh.NewClient(c, chans, reqs)
	go keepAlive(client, nc, timeout)
	sc, err := sftp.NewClient(client, sftp.UseConcurrentReads(true), sftp.UseConcurrentWrites(true))
	if err != nil {
		client.Close()
		return nil, sdk.Retryable(fmt.Errorf("sftp: start the sftp subsystem on %s: %w", addr, err))
	}
	return &sftpFS{ssh: client, c: sc}, nil
}

// keepAlive closes the connection once the server stops answering: every
// timeout/2 it sends an SSH keepalive request (OpenSSH's
// ServerAliveInterval), and a reply that has not come within timeout
// closes nc, which fails every SFTP operation waiting on the connection —
// a listing, a download, an upload — so it is retried instead of hanging.
// It ends with the connection.
func keepAlive(client *ssh.Client, nc net.Conn, timeout time.Duration) {
	done := make(chan struct{})
	go func() { client.Wait(); close(done) }()
	tick := time.NewTicker(max(timeout/2, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		replied := make(chan struct{})
		go func() {
			client.SendRequest("keepalive@openssh.com", true, nil) // any reply, even a refusal, is an answer
			close(replied)
		}()
		wait := time.NewTimer(timeout)
		select {
		case <-replied:
			wait.Stop()
		case <-done:
			wait.Stop()
			return
		case <-wait.C:
			nc.Close()
			return
		}
	}
}

// sftpFS is one SSH connection with one SFTP session.
type sftpFS struct {
	ssh *ssh.Client
	c   *sftp.Client
}

func (f *sftpFS) List(_ context.Context, dir string) ([]remotefs.Entry, error) {
	infos, err := f.c.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]remotefs.Entry, 0, len(infos))
	for _, fi := range infos {
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			continue
		}
		out = append(out, remotefs.Entry{Path: path.Join(dir, fi.Name()), Size: fi.Size(), ModTime: fi.ModTime(), Dir: fi.IsDir()})
	}
	return out, nil
}

func (f *sftpFS) Open(_ context.Context, p string, off int64) (io.ReadCloser, error) {
	file, err := f.c.Open(p)
	if err != nil {
		return nil, err
	}
	if off > 0 {
		if _, err := file.Seek(off, io.SeekStart); err != nil {
			file.Close()
			return nil, err
		}
	}
	// WriteTo keeps many read requests in flight (as the raw library's
	// fastest download does); Read would wait for each buffer in turn.
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := file.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	return &pipedFile{pr: pr, f: file, done: done}, nil
}

// pipedFile streams a remote file through a pipe fed by its WriteTo.
type pipedFile struct {
	pr   *io.PipeReader
	f    *sftp.File
	done chan struct{}
}

func (p *pipedFile) Read(b []byte) (int, error) { return p.pr.Read(b) }

// Close ends the transfer (WriteTo returns once its next write fails) and
// closes the remote file.
func (p *pipedFile) Close() error {
	p.pr.Close()
	<-p.done
	return p.f.Close()
}

func (f *sftpFS) Upload(_ context.Context, p string, r io.Reader) error {
	file, err := f.c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := file.ReadFrom(r); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

func (f *sftpFS) Rename(_ context.Context, from, to string) error {
	if _, ok := f.c.HasExtension("posix-rename@openssh.com"); ok {
		return f.c.PosixRename(from, to)
	}
	// Plain SFTP rename refuses an existing target.
	if err := f.c.Remove(to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return f.c.Rename(from, to)
}

func (f *sftpFS) Remove(_ context.Context, p string) error { return f.c.Remove(p) }

func (f *sftpFS) MkdirAll(_ context.Context, dir string) error { return f.c.MkdirAll(dir) }

func (f *sftpFS) Close() error {
	f.c.Close()
	return f.ssh.Close()
}
