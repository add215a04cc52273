package sftp

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// testServer is an SSH server on a loopback port whose only subsystem is
// pkg/sftp's server over the real file system (see docs/connectors/sftp.md
// for why it, and not OpenSSH's sshd, runs in the tests).
type testServer struct {
	addr        string
	hostKey     ssh.Signer
	userKey     ssh.Signer
	userKeyPriv ed25519.PrivateKey
	ln          net.Listener
	wg          sync.WaitGroup
}

const (
	testUser     = "braid"
	testPassword = "s3cret-only-for-tests"
)

func newSigner(t testing.TB) ssh.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startServer(t testing.TB) *testServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	userKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{hostKey: newSigner(t), userKey: userKey, userKeyPriv: priv}
	conf := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == testUser && string(pw) == testPassword {
				return nil, nil
			}
			return nil, errors.New("bad password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == testUser && bytes.Equal(k.Marshal(), ts.userKey.PublicKey().Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	conf.AddHostKey(ts.hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.ln, ts.addr = ln, ln.Addr().String()
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				ts.serve(nc, conf)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ts.wg.Wait()
	})
	return ts
}

func (ts *testServer) serve(nc net.Conn, conf *ssh.ServerConfig) {
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
				srv, err := sftp.NewServer(ch)
				if err != nil {
					return
				}
				if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
					_ = err // the client hung up
				}
				srv.Close()
				return
			}
		}()
	}
}

func (ts *testServer) host() string { h, _, _ := net.SplitHostPort(ts.addr); return h }

func (ts *testServer) port() int { return ts.ln.Addr().(*net.TCPAddr).Port }

func (ts *testServer) fingerprint() string { return ssh.FingerprintSHA256(ts.hostKey.PublicKey()) }

// config is a working connection config, password login, pinned host key.
func (ts *testServer) config(extra map[string]any) map[string]any {
	m := map[string]any{
		"host": ts.host(), "port": ts.port(), "user": testUser, "password": testPassword,
		"host.key": ts.fingerprint(),
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
