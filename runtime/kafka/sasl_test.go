package kafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/internal/testcert"
	"github.com/braidhq/braid/runtime/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testCert is a self-signed certificate for 127.0.0.1: the server's TLS
// configuration, a client's that trusts it, and its PEM file.
func testCert(t testing.TB) (server, client *tls.Config, caFile string) {
	c := testcert.New(t)
	return c.Server, c.Client, c.CertFile
}

var testUsers = map[string]string{"alice": "alice-secret", "bob": "b0b:with:colons"}

// saslServer serves l on loopback with testUsers (and TLS when given).
func saslServer(t testing.TB, l *log.Log, tlsConf *tls.Config) (*Server, *prometheus.Registry) {
	t.Helper()
	users, err := NewUsers(testUsers)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := New(l, Options{Addr: "127.0.0.1:0", Users: users, TLS: tlsConf, Registerer: reg})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, reg
}

// roundTrip produces n records through p and reads them back through c.
func roundTrip(t *testing.T, ctx context.Context, p, c *kgo.Client, topic string, n int) {
	t.Helper()
	for i := range n {
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	got := 0
	for got < n {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d of %d records: %v", got, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
}

// TestSASL authenticates with each mechanism, over TLS and in the clear
// on loopback, and produces and consumes.
func TestSASL(t *testing.T) {
	l := testLog(t)
	srvTLS, cliTLS, _ := testCert(t)
	cases := []struct {
		name string
		tls  bool
		mech sasl.Mechanism
	}{
		{"plain-tls", true, plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()},
		{"scram-tls", true, scram.Auth{User: "bob", Pass: "b0b:with:colons"}.AsSha256Mechanism()},
		{"scram-loopback", false, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()},
		{"plain-loopback", false, plain.Auth{User: "bob", Pass: "b0b:with:colons"}.AsMechanism()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sc, cc *tls.Config
			if tc.tls {
				sc, cc = srvTLS, cliTLS
			}
			s, _ := saslServer(t, l, sc)
			opts := []kgo.Opt{kgo.SASL(tc.mech)}
			if cc != nil {
				opts = append(opts, kgo.DialTLSConfig(cc))
			}
			topic := newTopic(t, l, 1)
			ctx := ctxT(t, 30*time.Second)
			p := client(t, s, opts...)
			c := client(t, s, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			roundTrip(t, ctx, p, c, topic, 10)
		})
	}
}

// TestSASLRefused: a wrong password, an unknown user and a mechanism the
// server lacks fail with Kafka's codes, after the failure delay, and are
// counted.
func TestSASLRefused(t *testing.T) {
	l := testLog(t)
	s, reg := saslServer(t, l, nil)
	cases := []struct {
		name  string
		mech  sasl.Mechanism
		want  error
		label string
	}{
		{"plain-wrong-password", plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(), kerr.SaslAuthenticationFailed, "PLAIN"},
		{"plain-unknown-user", plain.Auth{User: "mallory", Pass: "alice-secret"}.AsMechanism(), kerr.SaslAuthenticationFailed, "PLAIN"},
		{"plain-other-authzid", plain.Auth{Zid: "bob", User: "alice", Pass: "alice-secret"}.AsMechanism(), kerr.SaslAuthenticationFailed, "PLAIN"},
		{"scram-wrong-password", scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism(), kerr.SaslAuthenticationFailed, "SCRAM-SHA-256"},
		{"scram-unknown-user", scram.Auth{User: "mallory", Pass: "x"}.AsSha256Mechanism(), kerr.SaslAuthenticationFailed, "SCRAM-SHA-256"},
		{"scram-sha-512", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(), kerr.UnsupportedSaslMechanism, "unsupported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(s.m.authFailures.WithLabelValues(tc.label))
			cl := client(t, s, kgo.SASL(tc.mech), kgo.RequestRetries(0))
			start := time.Now()
			err := cl.Ping(ctxT(t, 10*time.Second))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ping: %v, want %v", err, tc.want)
			}
			if tc.want == kerr.SaslAuthenticationFailed && time.Since(start) < authFailDelay {
				t.Fatalf("refused after %v, before the failure delay of %v", time.Since(start), authFailDelay)
			}
			if after := testutil.ToFloat64(s.m.authFailures.WithLabelValues(tc.label)); after <= before {
				t.Fatalf("braid_kafka_auth_failures_total{mechanism=%q} stayed at %v", tc.label, after)
			}
		})
	}
	if n, err := testutil.GatherAndCount(reg, "braid_kafka_auth_failures_total"); err != nil || n == 0 {
		t.Fatalf("braid_kafka_auth_failures_total is not registered: %d series, %v", n, err)
	}
}

// TestSASLUnauthenticated: a client without SASL cannot produce to a
// listener with users.
func TestSASLUnauthenticated(t *testing.T) {
	l := testLog(t)
	s, _ := saslServer(t, l, nil)
	topic := newTopic(t, l, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr()), kgo.RecordDeliveryTimeout(3*time.Second), kgo.RetryTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctxT(t, 10*time.Second), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("an unauthenticated client produced")
	}
	ti, err := l.Topic(ctxT(t, 5*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Partitions[0].EndOffset != 0 {
		t.Fatalf("the topic holds %d records", ti.Partitions[0].EndOffset)
	}
}

// rawConn speaks the protocol by hand, to send what clients never do.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes req (header v1 or v2) and returns its correlation id.
func (rc *rawConn) send(req kmsg.Request) {
	rc.corr++
	buf := []byte{0, 0, 0, 0}
	buf = kbin.AppendInt16(buf, req.Key())
	buf = kbin.AppendInt16(buf, req.GetVersion())
	buf = kbin.AppendInt32(buf, rc.corr)
	buf = kbin.AppendNullableString(buf, nil)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if _, err := rc.c.Write(buf); err != nil {
		rc.t.Fatal(err)
	}
}

// recv reads the answer into resp, or returns io.EOF when the server
// closed the connection.
func (rc *rawConn) recv(resp kmsg.Response) error {
	var size [4]byte
	if _, err := io.ReadFull(rc.br, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.br, body); err != nil {
		return err
	}
	body = body[4:] // correlation id
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		body = body[1:]
	}
	return resp.ReadFrom(body)
}

// closed asserts the server closed the connection.
func (rc *rawConn) closed() {
	rc.t.Helper()
	var b [1]byte
	if _, err := rc.br.Read(b[:]); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(fmt.Sprint(err), "reset") {
		rc.t.Fatalf("connection still open: read %v", err)
	}
}

// TestSASLStates sends what the KIP-152 flow does not allow.
func TestSASLStates(t *testing.T) {
	l := testLog(t)
	s, _ := saslServer(t, l, nil)
	handshake := func(mech string) *kmsg.SASLHandshakeRequest {
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Version, r.Mechanism = 1, mech
		return r
	}
	authenticate := func(tok string) *kmsg.SASLAuthenticateRequest {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.Version, r.SASLAuthBytes = 2, []byte(tok)
		return r
	}
	expectHandshake := func(rc *rawConn, code int16) {
		t.Helper()
		resp := kmsg.NewPtrSASLHandshakeResponse()
		resp.Version = 1
		if err := rc.recv(resp); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != code {
			t.Fatalf("SaslHandshake: error %d, want %d", resp.ErrorCode, code)
		}
	}
	expectAuth := func(rc *rawConn, code int16) {
		t.Helper()
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = 2
		if err := rc.recv(resp); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != code {
			t.Fatalf("SaslAuthenticate: error %d, want %d", resp.ErrorCode, code)
		}
	}
	t.Run("metadata-before-auth", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		av := kmsg.NewPtrApiVersionsRequest()
		rc.send(av)
		if err := rc.recv(kmsg.NewPtrApiVersionsResponse()); err != nil {
			t.Fatalf("ApiVersions before authentication: %v", err)
		}
		rc.send(kmsg.NewPtrMetadataRequest())
		rc.closed()
	})
	t.Run("authenticate-before-handshake", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		rc.send(authenticate("\x00alice\x00alice-secret"))
		expectAuth(rc, kerr.IllegalSaslState.Code)
		rc.closed()
	})
	t.Run("handshake-twice", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		rc.send(handshake("PLAIN"))
		expectHandshake(rc, 0)
		rc.send(handshake("PLAIN"))
		expectHandshake(rc, kerr.IllegalSaslState.Code)
		rc.closed()
	})
	t.Run("unsupported-mechanism", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		rc.send(handshake("GSSAPI"))
		expectHandshake(rc, kerr.UnsupportedSaslMechanism.Code)
		rc.closed()
	})
	t.Run("handshake-v0", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		r := handshake("PLAIN")
		r.Version = 0
		rc.send(r)
		resp := kmsg.NewPtrSASLHandshakeResponse()
		if err := rc.recv(resp); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("SaslHandshake v0: %v, error %d", err, resp.ErrorCode)
		}
		rc.closed()
	})
	t.Run("token-too-big", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		rc.send(handshake("PLAIN"))
		expectHandshake(rc, 0)
		rc.send(authenticate("\x00alice\x00" + strings.Repeat("x", maxAuthBytes)))
		expectAuth(rc, kerr.SaslAuthenticationFailed.Code)
		rc.closed()
	})
	t.Run("frame-too-big", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		rc.send(handshake("PLAIN"))
		expectHandshake(rc, 0)
		rc.send(authenticate(strings.Repeat("x", maxAuthFrame)))
		rc.closed()
	})
	t.Run("plain-then-metadata-then-reauth", func(t *testing.T) {
		rc := dialRaw(t, s.Addr())
		rc.send(handshake("PLAIN"))
		expectHandshake(rc, 0)
		rc.send(authenticate("\x00alice\x00alice-secret"))
		expectAuth(rc, 0)
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		rc.send(md)
		mresp := kmsg.NewPtrMetadataResponse()
		mresp.Version = 1
		if err := rc.recv(mresp); err != nil || len(mresp.Brokers) != 1 {
			t.Fatalf("metadata after authentication: %v, %d brokers", err, len(mresp.Brokers))
		}
		rc.send(authenticate("\x00alice\x00alice-secret"))
		expectAuth(rc, kerr.IllegalSaslState.Code) // no re-authentication; the connection stays
		rc.send(md)
		if err := rc.recv(mresp); err != nil {
			t.Fatalf("metadata after a refused re-authentication: %v", err)
		}
	})
	t.Run("no-users-listener", func(t *testing.T) {
		rc := dialRaw(t, testServer(t, l).Addr())
		rc.send(handshake("PLAIN"))
		expectHandshake(rc, kerr.IllegalSaslState.Code)
	})
}

// TestListenBeyondLoopback: beyond loopback needs users and TLS. Nothing
// listens on (or talks to) a non-loopback address here: Start refuses
// before listening, and the accepted case calls the rule directly.
func TestListenBeyondLoopback(t *testing.T) {
	l := testLog(t)
	users, err := NewUsers(testUsers)
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, _, _ := testCert(t)
	for _, tc := range []struct {
		name  string
		users *Users
		tls   *tls.Config
	}{
		{"neither", nil, nil},
		{"users-only", users, nil},
		{"tls-only", nil, srvTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
				s := New(l, Options{Addr: addr, Users: tc.users, TLS: tc.tls})
				err := s.Start(context.Background())
				if err == nil {
					_ = s.Close()
					t.Fatalf("%s: started", addr)
				}
				if !errors.Is(err, ErrBeyondLoopback) || s.Addr() != "" {
					t.Fatalf("%s: %v (listening on %q)", addr, err, s.Addr())
				}
			}
		})
	}
	for _, host := range []string{"0.0.0.0", "", "10.1.2.3", "braid.example.com"} {
		if err := checkListen(host, Options{Addr: host + ":9092", Users: users, TLS: srvTLS}); err != nil {
			t.Fatalf("%q with users and TLS: %v", host, err)
		}
	}
	if err := checkListen("127.0.0.1", Options{}); err != nil {
		t.Fatalf("loopback without users: %v", err)
	}
	if err := checkListen("127.0.0.1", Options{TLS: &tls.Config{}}); err == nil {
		t.Fatal("TLS without a certificate was accepted")
	}
}

// TestSASLKcat: librdkafka over SASL_SSL with SCRAM-SHA-256 and PLAIN,
// and a wrong password refused. librdkafka before 2.6.1 repeats the client
// nonce in SCRAM's final message (librdkafka#4895); RFC 5802 and Kafka 4
// refuse that, and so does Braid: with such a kcat, SCRAM must fail with an
// authentication error and the round trip runs with PLAIN.
func TestSASLKcat(t *testing.T) {
	kcat := kcat(t)
	ver, err := exec.Command(kcat, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -V: %v\n%s", err, ver)
	}
	l := testLog(t)
	srvTLS, _, caFile := testCert(t)
	s, _ := saslServer(t, l, srvTLS)
	ctx := ctxT(t, 60*time.Second)
	kc := func(mech, pass string, stdin string, more ...string) ([]byte, error) {
		args := append([]string{"-b", s.Addr(), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=alice", "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + caFile}, more...)
		cmd := exec.CommandContext(ctx, kcat, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return []byte(stderr.String()), err
		}
		return out, nil
	}
	mechs := []string{"PLAIN"}
	if scramNonceFixed(string(ver)) {
		mechs = append(mechs, "SCRAM-SHA-256")
	} else {
		out, err := kc("SCRAM-SHA-256", "alice-secret", "", "-L", "-m", "3")
		if err == nil || !strings.Contains(string(out), "Authentication failed") {
			t.Fatalf("SCRAM with librdkafka's repeated nonce: %v\n%s", err, out)
		}
		t.Logf("this kcat's librdkafka repeats the SCRAM nonce (fixed in 2.6.1); SCRAM refused as Kafka 4 does, round trip with PLAIN only")
	}
	for _, mech := range mechs {
		t.Run(mech, func(t *testing.T) {
			topic := newTopic(t, l, 1)
			if out, err := kc(mech, "alice-secret", "one\ntwo\nthree\n", "-P", "-t", topic); err != nil {
				t.Fatalf("kcat -P: %v\n%s", err, out)
			}
			out, err := kc(mech, "alice-secret", "", "-C", "-t", topic, "-o", "beginning", "-e", "-q")
			if err != nil {
				t.Fatalf("kcat -C: %v\n%s", err, out)
			}
			if got := strings.Fields(string(out)); strings.Join(got, ",") != "one,two,three" {
				t.Fatalf("kcat read %q", got)
			}
			if out, err := kc(mech, "wrong", "", "-L", "-m", "3"); err == nil || !strings.Contains(string(out), "Authentication failed") {
				t.Fatalf("kcat with a wrong password: %v\n%s", err, out)
			}
		})
	}
}

// scramNonceFixed reports whether kcat -V names librdkafka 2.6.1 or later.
func scramNonceFixed(version string) bool {
	_, rest, ok := strings.Cut(version, "librdkafka ")
	if !ok {
		return false
	}
	var a, b, c int
	if n, _ := fmt.Sscanf(rest, "%d.%d.%d", &a, &b, &c); n < 2 {
		return false
	}
	return a > 2 || a == 2 && (b > 6 || b == 6 && c >= 1)
}

// TestParseUsers reads credentials files, and refuses broken ones.
func TestParseUsers(t *testing.T) {
	v, err := Verifier("from-verifier")
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUsers(strings.NewReader("# Kafka users\n\nalice:alice-secret\r\nbob: spaced pass \ncarol:" + v + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for user, pass := range map[string]string{"alice": "alice-secret", "bob": " spaced pass ", "carol": "from-verifier"} {
		if !u.checkPassword(user, pass) {
			t.Errorf("%s: password refused", user)
		}
		if u.checkPassword(user, pass+"x") {
			t.Errorf("%s: a wrong password accepted", user)
		}
	}
	if u.checkPassword("dave", "") || u.Len() != 3 {
		t.Fatalf("unknown user accepted, or %d users", u.Len())
	}
	long := strings.Repeat("x", maxCredential+1)
	for _, tc := range []struct{ name, file, want string }{
		{"empty", "# nobody\n", "no users"},
		{"no-colon", "alice\n", "line 1: not user:password"},
		{"twice", "a:1\na:2\n", "line 2: user \"a\" twice"},
		{"empty-password", "a:\n", "a password has"},
		{"long-password", "a:" + long + "\n", "a password has"},
		{"long-user", long + ":x\n", "a user name has"},
		{"space-in-user", "a b:x\n", "no spaces"},
		{"bad-verifier", "a:SCRAM-SHA-256$4096:zz\n", "a verifier is"},
		{"weak-verifier", "a:" + strings.Replace(v, "$4096:", "$1000:", 1) + "\n", "iterations 1000"},
		{"long-line", "a:" + strings.Repeat("x", 5000) + "\n", "longer than 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUsers(strings.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), long) {
				t.Fatal("the error repeats the password")
			}
		})
	}
}

// FuzzParseUsers: no file makes the parser panic, and a parsed file has a
// user whose line is well formed.
func FuzzParseUsers(f *testing.F) {
	v, err := Verifier("pw")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"a:b\n", "# c\n\nuser:pass:with:colons\r\n", "x:" + v, "x:SCRAM-SHA-256$4096:$:", "", ":", "a:b\na:c"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		if strings.Count(file, "\n") > 20 {
			return // each user costs a key derivation
		}
		u, err := ParseUsers(strings.NewReader(file))
		if err == nil && u.Len() == 0 {
			t.Fatal("parsed a file without users")
		}
	})
}
