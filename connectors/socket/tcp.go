package socket

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// handshakeTimeout bounds a TLS handshake, so a silent client cannot hold
// a connection slot before it sent anything.
const handshakeTimeout = 10 * time.Second

// TCP is the tcp source.
type TCP struct {
	base
	maxConns int64
	lenBytes int
	certFile string
	keyFile  string
	caFile   string
	// closeInvalid ends a connection after an invalid frame (on.invalid close).
	closeInvalid bool

	ln  net.Listener
	tls *tls.Config

	ctx    context.Context // ends on Close: stops readers waiting for credits
	cancel context.CancelFunc
	wg     sync.WaitGroup

	conns            atomic.Int64
	invalid, refused atomic.Int64

	mu   sync.Mutex
	open map[net.Conn]struct{}

	warnInvalid, warnRefused, warnFull, warnTLS limiter
}

// NewTCP builds the source from validated settings; Open starts listening.
func NewTCP(cfg sdk.Config, env sdk.Env) (*TCP, error) {
	s := newSettings("tcp", cfg, env)
	return &TCP{
		base:         base{s: s, buf: newBuffer(s.bufferBytes)},
		maxConns:     cfg.Int("max.connections"),
		lenBytes:     int(cfg.Int("length.bytes")),
		certFile:     cfg.String("tls.cert.file"),
		keyFile:      cfg.String("tls.key.file"),
		caFile:       cfg.String("tls.ca.file"),
		closeInvalid: cfg.String("on.invalid") == invalidClose,
		open:         map[net.Conn]struct{}{},
	}, nil
}

// loadTLS reads the certificate files; errors name the setting, never
// the key's contents.
func (t *TCP) loadTLS() (*tls.Config, error) {
	if t.certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tcp: tls.cert.file %q / tls.key.file %q: %w", t.certFile, t.keyFile, err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.caFile != "" {
		pem, err := os.ReadFile(t.caFile)
		if err != nil {
			return nil, fmt.Errorf("tcp: tls.ca.file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tcp: tls.ca.file %q holds no PEM certificate", t.caFile)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

// Open starts listening. TCP cannot replay, so pos is ignored.
func (t *TCP) Open(ctx context.Context, _ sdk.Position) error {
	conf, err := t.loadTLS()
	if err != nil {
		return sdk.Fatal(err)
	}
	t.tls = conf
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", t.s.listen)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("tcp: listen on %s: %w", t.s.listen, err))
	}
	t.ln = ln
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		t.accept()
	}()
	go func() {
		defer t.wg.Done()
		t.s.reportGauges(t.ctx, []gauge{{"connections", &t.conns}, {"refused_connections", &t.refused},
			{"invalid_frames", &t.invalid}, {"buffered_bytes", &t.buf.used}})
	}()
	t.s.log.Info("tcp source listening", "listen", ln.Addr().String(), "framing", t.s.framing, "tls", conf != nil,
		"mutual_tls", conf != nil && conf.ClientCAs != nil)
	return nil
}

// Addr is the address the source listens on (useful with port 0).
func (t *TCP) Addr() string {
	if t.ln == nil {
		return ""
	}
	return t.ln.Addr().String()
}

func (t *TCP) accept() {
	for delay := time.Duration(0); ; {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, do not spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.s.log.Warn("tcp source: accept failed", "listen", t.s.listen, "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if t.conns.Add(1) > t.maxConns {
			t.conns.Add(-1)
			t.refused.Add(1)
			if ok, n := t.warnRefused.allow(); ok {
				t.s.log.Warn("tcp source: max.connections reached; connection closed", "peer", c.RemoteAddr().String(),
					"max_connections", t.maxConns, "refused_since_last_warning", n)
			}
			_ = c.Close()
			continue
		}
		if !t.track(c) {
			t.conns.Add(-1)
			_ = c.Close()
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(c)
			t.serve(c)
		}()
	}
}

// track records an open connection, unless the source is closing.
func (t *TCP) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open == nil {
		return false
	}
	t.open[c] = struct{}{}
	return true
}

func (t *TCP) untrack(c net.Conn) {
	_ = c.Close()
	t.conns.Add(-1)
	t.mu.Lock()
	delete(t.open, c)
	t.mu.Unlock()
}

// serve reads one connection until it ends, the source closes, or (with
// on.invalid close) a bad frame arrives.
func (t *TCP) serve(c net.Conn) {
	var p peer
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		p = peerOf(a.AddrPort())
	}
	var r io.Reader = c
	if t.tls != nil {
		tc, ok := t.handshake(c)
		if !ok {
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			p.cn = certs[0].Subject.CommonName
		}
		r = tc
	}
	fr := newFrameReader(r, t.s.framing, t.s.maxLen, t.lenBytes)
	b := newBatcher(&t.s, &t.invalid)
	for {
		b.start(p, readBufferSize, 64)
		err := t.fill(fr, b, c)
		// Hand over what was read, even when the connection ended.
		if ch := b.finish(); len(ch.recs) > 0 && !t.hand(ch) {
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && t.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				t.s.log.Debug("tcp source: connection ended", "peer", c.RemoteAddr().String(), "error", err)
			}
			return
		}
	}
}

// handshake runs the TLS handshake within handshakeTimeout.
func (t *TCP) handshake(c net.Conn) (*tls.Conn, bool) {
	tc := tls.Server(c, t.tls)
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(t.ctx); err != nil {
		if ok, n := t.warnTLS.allow(); ok {
			t.s.log.Warn("tcp source: TLS handshake failed", "peer", c.RemoteAddr().String(), "error", err,
				"failed_since_last_warning", n)
		}
		return nil, false
	}
	_ = c.SetDeadline(time.Time{})
	return tc, true
}

// hand gives a batch to the buffer, waiting for room while the log is
// behind (the connection is not read meanwhile); false once the source closes.
func (t *TCP) hand(ch chunk) bool {
	if !t.buf.tryAcquire(ch.cost) {
		if ok, _ := t.warnFull.allow(); ok {
			t.s.log.Info("tcp source: buffer.bytes reached, the log is behind; not reading sockets until it catches up",
				"buffer_bytes", t.s.bufferBytes)
		}
		if err := t.buf.acquire(t.ctx, ch.cost); err != nil {
			return false
		}
	}
	t.buf.push(ch)
	return true
}

// errCloseConn ends a connection after an invalid frame (on.invalid close).
var errCloseConn = errors.New("invalid frame")

// fill adds frames to b while more input is already in memory, so a busy
// connection hands over batches and an idle one a record at once.
func (t *TCP) fill(fr *frameReader, b *batcher, c net.Conn) error {
	for {
		frame, err := fr.next()
		if err == nil {
			err = b.add(frame)
			if err != nil {
				err = &invalidFrame{msg: "syslog: " + err.Error()}
			}
		}
		var inv *invalidFrame
		if errors.As(err, &inv) {
			t.invalid.Add(1)
			if ok, n := t.warnInvalid.allow(); ok {
				t.s.log.Warn("tcp source: invalid frame", "peer", c.RemoteAddr().String(), "error", inv.msg,
					"closing_connection", t.closeInvalid, "dead_letter", t.s.deadLetter, "invalid_since_last_warning", n)
			}
			if t.s.deadLetter {
				b.addInvalid(frame, inv)
			}
			if t.closeInvalid {
				return errCloseConn
			}
			err = nil
		}
		if err != nil {
			return err
		}
		if b.full() || !fr.complete() {
			return nil
		}
	}
}

// Close stops listening and closes every connection.
func (t *TCP) Close(ctx context.Context) error {
	t.buf.close()
	if t.ln == nil {
		return nil
	}
	t.cancel()
	_ = t.ln.Close()
	t.mu.Lock()
	for c := range t.open {
		_ = c.Close()
	}
	t.open = nil
	t.mu.Unlock()
	return waitGroup(ctx, &t.wg)
}

// waitGroup waits for wg or ctx, so shutdown is bounded.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
