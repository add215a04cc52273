// Package sftptest runs an SFTP server on a loopback port for tests and
// benchmarks: a golang.org/x/crypto/ssh server whose sftp subsystem is
// pkg/sftp's server or OpenSSH's sftp-server binary, serving the real file
// system, with a fresh host key, one user with a password and a fresh
// ed25519 key.
package sftptest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// The server's only user.
const (
	User     = "braid"
	Password = "s3cret-only-for-tests"
)

// Server is a running SFTP server.
type Server struct {
	Addr        string
	HostKey     ssh.Signer
	UserKey     ssh.Signer
	UserKeyPriv ed25519.PrivateKey
	ln          net.Listener
	wg          sync.WaitGroup
	mu          sync.Mutex
	conns       map[net.Conn]bool
	subsystem   string
}

// OpenSSHSFTPServer is where Debian's openssh-sftp-server puts the
// subsystem (scripts/services.sh installs it).
const OpenSSHSFTPServer = "/usr/lib/openssh/sftp-server"

// NewSigner makes a fresh ed25519 key.
func NewSigner() (ssh.Signer, ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	s, err := ssh.NewSignerFromKey(priv)
	return s, priv, err
}

// Start starts a server on a free loopback port, with pkg/sftp's server
// as the subsystem.
func Start() (*Server, error) { return StartWith("") }

// StartWith starts a server whose sftp subsystem is the program at
// subsystem (OpenSSHSFTPServer), or pkg/sftp's server when it is "".
func StartWith(subsystem string) (*Server, error) {
	if subsystem != "" {
		if _, err := exec.LookPath(subsystem); err != nil {
			return nil, fmt.Errorf("sftp subsystem %s: %w (scripts/services.sh installs it)", subsystem, err)
		}
	}
	hostKey, _, err := NewSigner()
	if err != nil {
		return nil, err
	}
	userKey, priv, err := NewSigner()
	if err != nil {
		return nil, err
	}
	ts := &Server{HostKey: hostKey, UserKey: userKey, UserKeyPriv: priv, conns: map[net.Conn]bool{}, subsystem: subsystem}
	conf := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == User && string(pw) == Password {
				return nil, nil
			}
			return nil, errors.New("bad password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == User && bytes.Equal(k.Marshal(), ts.UserKey.PublicKey().Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	conf.AddHostKey(ts.HostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ts.ln, ts.Addr = ln, ln.Addr().String()
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			ts.mu.Lock()
			ts.conns[nc] = true
			ts.mu.Unlock()
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				ts.serve(nc, conf)
				ts.mu.Lock()
				delete(ts.conns, nc)
				ts.mu.Unlock()
			}()
		}
	}()
	return ts, nil
}

// Close stops accepting and waits for the connections to end.
func (ts *Server) Close() {
	ts.ln.Close()
	ts.wg.Wait()
}

// Drop cuts every open connection, as a network failure would.
func (ts *Server) Drop() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for nc := range ts.conns {
		nc.Close()
	}
}

func (ts *Server) serve(nc net.Conn, conf *ssh.ServerConfig) {
	defer nc.Close()
	sc, chans, reqs, err := ssh.NewServerConn(nc, conf)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ch.Close()
			for req := range chReqs {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
				if !ok {
					continue
				}
				if ts.subsystem != "" {
					// The program speaks SFTP on its stdin and stdout, as
					// under sshd.
					cmd := exec.Command(ts.subsystem, "-e", "-l", "ERROR")
					cmd.Stdin, cmd.Stdout = ch, ch
					_ = cmd.Run() // ends when the client hangs up
					return
				}
				srv, err := sftp.NewServer(ch)
				if err != nil {
					return
				}
				_ = srv.Serve() // ends when the client hangs up
				srv.Close()
				return
			}
		}()
	}
}

// Host is the server's address without the port.
func (ts *Server) Host() string { h, _, _ := net.SplitHostPort(ts.Addr); return h }

// Port is the server's port.
func (ts *Server) Port() int { return ts.ln.Addr().(*net.TCPAddr).Port }

// Fingerprint is the SHA256 fingerprint of the host key.
func (ts *Server) Fingerprint() string { return ssh.FingerprintSHA256(ts.HostKey.PublicKey()) }

// Config is a working sftp connector config (password login, pinned host
// key) plus extra.
func (ts *Server) Config(extra map[string]any) map[string]any {
	m := map[string]any{
		"host": ts.Host(), "port": ts.Port(), "user": User, "password": Password,
		"host.key": ts.Fingerprint(),
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
