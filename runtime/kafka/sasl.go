package kafka

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"
)

// The SASL mechanisms served (KIP-43, KIP-84), in the order advertised.
const (
	mechPlain       = "PLAIN"
	mechScramSHA256 = "SCRAM-SHA-256"
)

var mechanisms = []string{mechScramSHA256, mechPlain}

const (
	saslHandshakeKey    int16 = 17
	saslAuthenticateKey int16 = 36

	// maxAuthFrame bounds a request before authentication (ApiVersions,
	// SaslHandshake and SaslAuthenticate are all small): an unknown
	// client cannot make the server hold a 100 MiB frame.
	maxAuthFrame = 16 << 10
	// maxAuthBytes bounds one SaslAuthenticate token.
	maxAuthBytes = 4 << 10
	// authTimeout is how long a connection may take from accept to
	// authenticated, TLS handshake included.
	authTimeout = 30 * time.Second
)

// authFailDelay is what a failed attempt costs the client before its
// error answer (and the closed connection): guessing is slow.
var authFailDelay = 300 * time.Millisecond

// ErrBeyondLoopback is returned by Start for an address beyond loopback
// without both users and TLS.
var ErrBeyondLoopback = errors.New("beyond loopback the Kafka listener needs users and TLS")

// checkListen is the listener's exposure rule, the REST token's: on
// loopback anything goes; beyond it, clients authenticate (users) over TLS.
func checkListen(host string, o Options) error {
	if o.TLS != nil && len(o.TLS.Certificates) == 0 && o.TLS.GetCertificate == nil && o.TLS.GetConfigForClient == nil {
		return errors.New("kafka: TLS is configured without a certificate")
	}
	if isLoopback(host) {
		return nil
	}
	var missing string
	switch {
	case o.Users.Len() == 0 && o.TLS == nil:
		missing = "users and a TLS certificate"
	case o.Users.Len() == 0:
		missing = "users"
	case o.TLS == nil:
		missing = "a TLS certificate"
	default:
		return nil
	}
	return fmt.Errorf("kafka: listen address %q: %w; give it %s (braid run --kafka-users FILE --kafka-tls-cert FILE --kafka-tls-key FILE, or kafka.users and kafka.tls in the pipeline file), or listen on loopback (127.0.0.1, ::1, localhost)",
		o.Addr, ErrBeyondLoopback, missing)
}

// serverTLS is the listener's TLS configuration: the caller's, at least
// TLS 1.2.
func serverTLS(c *tls.Config) *tls.Config {
	c = c.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// tlsHandshake completes a TLS connection's handshake within authTimeout,
// so a client that opens and stalls does not hold a goroutine for long.
func (s *Server) tlsHandshake(c net.Conn) error {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil
	}
	_ = tc.SetDeadline(time.Now().Add(authTimeout))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return err
	}
	return tc.SetDeadline(time.Time{})
}

// authPhase is where a connection is in KIP-152's flow.
type authPhase uint8

const (
	phaseHandshake    authPhase = iota // ApiVersions, then SaslHandshake
	phaseAuthenticate                  // SaslAuthenticate tokens of the chosen mechanism
	phaseDone                          // authenticated
)

// saslConn is one connection's authentication; only the reader touches it.
type saslConn struct {
	phase authPhase
	mech  string
	scram *scram.ServerConversation
	user  string
}

// authenticated reports whether the connection may send any request.
func (cn *conn) authenticated() bool {
	return cn.s.opts.Users == nil || cn.auth.phase == phaseDone
}

// beforeAuth reports whether key may be sent before authentication
// (Kafka's SaslServerAuthenticator allows these three only).
func beforeAuth(key int16) bool {
	return key == apiVersionsKey || key == saslHandshakeKey || key == saslAuthenticateKey
}

// sasl answers SaslHandshake and SaslAuthenticate; last closes the
// connection once the answer is written.
func (cn *conn) sasl(req kmsg.Request) (thunk func() kmsg.Response, last bool) {
	switch r := req.(type) {
	case *kmsg.SASLHandshakeRequest:
		return cn.saslHandshake(r)
	case *kmsg.SASLAuthenticateRequest:
		return cn.saslAuthenticate(r)
	}
	return now(req.ResponseKind()), true // unreachable: only keys 17 and 36 come here
}

func (cn *conn) saslHandshake(r *kmsg.SASLHandshakeRequest) (func() kmsg.Response, bool) {
	resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = mechanisms
	switch {
	case cn.s.opts.Users == nil:
		// As a Kafka PLAINTEXT listener: no SASL here.
		resp.SupportedMechanisms = []string{}
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return now(resp), false
	case cn.auth.phase == phaseDone:
		// Re-authentication (KIP-368) is not offered.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return now(resp), false
	case cn.auth.phase != phaseHandshake:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return now(resp), true
	case r.Version == 0:
		// v0 is followed by raw SASL tokens outside Kafka's framing
		// (clients before Kafka 1.0); only KIP-152's SaslAuthenticate is
		// served. librdkafka needs v0 advertised to use v1.
		cn.s.logger.Info("Kafka client sent a v0 SaslHandshake (raw SASL tokens), which is not served; use a client from Kafka 1.0 on", "remote", cn.remote())
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return now(resp), true
	}
	switch r.Mechanism {
	case mechPlain:
	case mechScramSHA256:
		cn.auth.scram = cn.s.scram.NewConversation()
	default:
		cn.s.m.authFailures.WithLabelValues("unsupported").Inc()
		cn.s.logger.Info("Kafka client asked for an unsupported SASL mechanism", "remote", cn.remote(), "mechanism", clip(r.Mechanism), "supported", mechanisms)
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return now(resp), true
	}
	cn.auth.phase, cn.auth.mech = phaseAuthenticate, r.Mechanism
	return now(resp), false
}

func (cn *conn) saslAuthenticate(r *kmsg.SASLAuthenticateRequest) (func() kmsg.Response, bool) {
	resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	illegal := func(msg string, last bool) (func() kmsg.Response, bool) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = &msg
		return now(resp), last
	}
	switch {
	case cn.s.opts.Users == nil:
		return illegal("this listener has no SASL", false)
	case cn.auth.phase == phaseDone:
		return illegal("SaslAuthenticate after successful authentication", false)
	case cn.auth.phase == phaseHandshake:
		return illegal("SaslAuthenticate before SaslHandshake", true)
	}
	if len(r.SASLAuthBytes) > maxAuthBytes {
		return cn.authFailed(resp, "", fmt.Sprintf("token of %d bytes", len(r.SASLAuthBytes)))
	}
	switch cn.auth.mech {
	case mechPlain:
		user, ok := cn.plain(r.SASLAuthBytes)
		if !ok {
			return cn.authFailed(resp, user, "wrong user or password")
		}
		cn.authOK(user)
		return now(resp), false
	default:
		sc := cn.auth.scram
		out, err := sc.Step(string(r.SASLAuthBytes))
		// The library's errors name no secret, but they are not logged:
		// what failed is enough.
		if err != nil {
			return cn.authFailed(resp, sc.Username(), "SCRAM exchange failed")
		}
		if sc.AuthzID() != "" && sc.AuthzID() != sc.Username() {
			return cn.authFailed(resp, sc.Username(), "authorization id differs from the user")
		}
		resp.SASLAuthBytes = []byte(out)
		if sc.Done() {
			if !sc.Valid() {
				return cn.authFailed(resp, sc.Username(), "wrong user or password")
			}
			cn.authOK(sc.Username())
		}
		return now(resp), false
	}
}

// plain checks a PLAIN token: [authzid] NUL authcid NUL passwd (RFC 4616).
func (cn *conn) plain(tok []byte) (user string, ok bool) {
	parts := bytes.Split(tok, []byte{0})
	if len(parts) != 3 {
		return "", false
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return user, false
	}
	if user == "" || pass == "" || len(user) > maxCredential || len(pass) > maxCredential {
		return user, false
	}
	return user, cn.s.opts.Users.checkPassword(user, pass)
}

func (cn *conn) authOK(user string) {
	cn.auth.phase, cn.auth.user, cn.auth.scram = phaseDone, user, nil
	cn.s.logger.Debug("Kafka client authenticated", "remote", cn.remote(), "user", user, "mechanism", cn.auth.mech)
}

// authFailed answers SASL_AUTHENTICATION_FAILED after authFailDelay and
// closes the connection. Neither the password nor the proof is logged.
func (cn *conn) authFailed(resp *kmsg.SASLAuthenticateResponse, user, why string) (func() kmsg.Response, bool) {
	cn.s.m.authFailures.WithLabelValues(cn.auth.mech).Inc()
	cn.s.logger.Info("Kafka authentication failed", "remote", cn.remote(), "user", clip(user), "mechanism", cn.auth.mech, "reason", why)
	msg := "Authentication failed: invalid user or password (mechanism " + cn.auth.mech + ")"
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	resp.ErrorMessage = &msg
	resp.SASLAuthBytes = nil
	ctx := cn.ctx
	return func() kmsg.Response {
		t := time.NewTimer(authFailDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return resp
	}, true
}

func (cn *conn) remote() string { return cn.c.RemoteAddr().String() }

// clip bounds a client-supplied name before it is logged.
func clip(s string) string {
	if len(s) > maxCredential {
		return s[:maxCredential] + "…"
	}
	return s
}

// newScramServer answers SCRAM-SHA-256 from u; an unknown user gets a
// decoy, so the exchange fails at the proof as a wrong password does.
func newScramServer(u *Users) *scram.Server {
	srv, _ := scram.SHA256.NewServer(func(user string) (scram.StoredCredentials, error) {
		c, _ := u.lookup(user)
		return c, nil
	})
	return srv
}
