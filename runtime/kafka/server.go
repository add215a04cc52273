package kafka

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"
	"golang.org/x/sync/semaphore"
)

// Bounds of what one connection may send and hold.
const (
	// maxFrame is the largest request accepted: Kafka's default
	// socket.request.max.bytes. A bigger length closes the connection.
	maxFrame = 100 << 20
	// maxInFlight is how many requests of one connection are decoded and
	// being answered at once (Kafka clients pipeline up to 5 by default).
	maxInFlight = 16
	// maxConnBytes bounds the request bytes a connection holds at once
	// (decoded and not yet answered): pipelined big produces wait.
	maxConnBytes = 128 << 20
	// maxConns bounds open connections; more are closed at accept.
	maxConns = 4096
	// idleTimeout closes a connection that sent nothing for this long
	// (Kafka's connections.max.idle.ms).
	idleTimeout = 10 * time.Minute
)

// Options configure a Server.
type Options struct {
	// Addr is the listen address (host:port). Beyond loopback both Users
	// and TLS are required.
	Addr string
	// Users, when set, are the only clients served: every connection
	// authenticates with SASL PLAIN or SCRAM-SHA-256 first, on loopback too.
	Users *Users
	// TLS, when set, wraps the listener (at least TLS 1.2).
	TLS *tls.Config
	// NodeID is this broker's id in Metadata. When 0 and WorkerID is set,
	// the worker gets one the first time it serves and keeps it across
	// restarts (stored in the braid_kafka bucket); when both are unset it
	// is 0, which suits one broker only.
	NodeID int32
	// WorkerID names the worker this broker runs in (braid run --worker-id).
	WorkerID string
	// Advertise is the host:port clients are told to reach this broker at
	// (default: the listen address).
	Advertise string
	// ClusterID is reported in Metadata and DescribeCluster (default "braid").
	ClusterID string
	Logger    *slog.Logger
	// Registerer receives the braid_kafka_* metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Server serves the Kafka protocol on a Braid log.
type Server struct {
	log    *log.Log
	opts   Options
	logger *slog.Logger
	m      *metrics

	ln   net.Listener
	host string
	port int32

	producers *producers
	groups    *groups
	cl        *cluster
	scram     *scram.Server // nil without Users

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	aheadBytes *semaphore.Weighted // what read-ahead answers may hold, all connections together
}

// New returns a server on l; Start listens.
func New(l *log.Log, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClusterID == "" {
		opts.ClusterID = "braid"
	}
	s := &Server{log: l, opts: opts, logger: opts.Logger.With("component", "kafka"), conns: map[net.Conn]struct{}{},
		aheadBytes: semaphore.NewWeighted(maxAheadBytes)}
	s.m = newMetrics(opts.Registerer)
	s.producers = newProducers(l, s.logger)
	s.groups = newGroups(l, s.logger, s)
	s.cl = newCluster(s)
	if opts.Users != nil {
		s.scram = newScramServer(opts.Users)
	}
	return s
}

// Start listens on Options.Addr and serves until Close or ctx ends.
func (s *Server) Start(ctx context.Context) error {
	host, _, err := net.SplitHostPort(s.opts.Addr)
	if err != nil {
		return fmt.Errorf("kafka: listen address %q: %w", s.opts.Addr, err)
	}
	if err := checkListen(host, s.opts); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, serverTLS(s.opts.TLS))
	}
	s.ln = ln
	tcp := ln.Addr().(*net.TCPAddr)
	s.host, s.port = host, int32(tcp.Port)
	if host == "" || host == "localhost" {
		s.host = tcp.IP.String()
	}
	self := brokerInfo{Host: s.host, Port: s.port, Worker: s.opts.WorkerID}
	if s.opts.Advertise != "" {
		if self.Host, self.Port, err = splitAdvertise(s.opts.Advertise); err != nil {
			_ = ln.Close()
			return err
		}
	}
	if err := s.cl.start(ctx, self, s.opts.NodeID); err != nil {
		_ = ln.Close()
		return err
	}
	s.opts.NodeID = s.cl.self.ID
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.ctx.Done():
		}
	}()
	s.wg.Add(1)
	go s.accept()
	s.logger.Info("serving the Kafka protocol", "addr", ln.Addr().String(), "node", s.opts.NodeID, "tls", s.opts.TLS != nil, "sasl", s.opts.Users != nil)
	return nil
}

// splitAdvertise parses Options.Advertise.
func splitAdvertise(addr string) (string, int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && host == "" {
		err = errors.New("no host")
	}
	var p int
	if err == nil {
		p, err = strconv.Atoi(port)
		if err == nil && (p <= 0 || p > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		return "", 0, fmt.Errorf("kafka: advertised address %q: %v (want host:port)", addr, err)
	}
	return host, int32(p), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return net.JoinHostPort(s.host, strconv.Itoa(int(s.port)))
}

// Close stops listening, closes every connection and waits for them.
func (s *Server) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cl.stop(true) // the others stop routing clients here
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.groups.close()
	s.producers.close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.logger.Warn("accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		if len(s.conns) >= maxConns {
			s.mu.Unlock()
			s.logger.Warn("too many Kafka connections; closing a new one", "remote", c.RemoteAddr().String(), "max", maxConns)
			_ = c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.m.connections.Inc()
			defer s.m.connections.Dec()
			if err := s.tlsHandshake(c); err != nil {
				s.logger.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
				_ = c.Close()
			} else {
				newConn(s, c).serve()
			}
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// conn is one client connection: a reader decodes requests and starts
// them, a writer sends their answers in request order.
type conn struct {
	s      *Server
	c      net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	fetch  *readerCache
	held   *semaphore.Weighted // request bytes held, ≤ maxConnBytes
	pub    *publisher          // created by the first Produce; only the reader goroutine sets it
	client string
	auth   saslConn  // only the reader goroutine touches it
	authBy time.Time // authenticate before this, or be closed
}

func newConn(s *Server, c net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{s: s, c: c, ctx: ctx, cancel: cancel, fetch: newReaderCache(s.log), held: semaphore.NewWeighted(maxConnBytes),
		authBy: time.Now().Add(authTimeout)}
}

// reply is one request's answer, in request order: the thunk runs on the
// writer (it may wait, e.g. for produce acknowledgements or a long poll)
// and returns nil when the client expects no answer (acks=0).
type reply struct {
	corr    int32
	key     int16
	version int16
	start   time.Time
	thunk   func() kmsg.Response
	raw     []byte // an answer already encoded (a refused version)
	size    int64  // request bytes held until answered
	last    bool   // close the connection after this answer (failed authentication)
}

func (cn *conn) serve() {
	defer cn.c.Close()
	defer cn.cancel()
	defer cn.fetch.close(cn.s)
	replies := make(chan reply, maxInFlight)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cn.write(replies)
	}()
	err := cn.read(replies)
	// The client is gone (or broke the protocol): nobody reads the answers,
	// so pending long polls end now instead of at their max wait. A failed
	// authentication's answer still waits out its delay.
	if !errors.Is(err, errAuthClosed) {
		cn.cancel()
	}
	if cn.pub != nil {
		defer cn.pub.close()
	}
	close(replies)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && cn.ctx.Err() == nil {
		cn.s.logger.Debug("connection closed", "remote", cn.c.RemoteAddr().String(), "client", cn.client, "err", err)
	}
	<-done
}

// read decodes requests until the connection ends or a request is malformed.
func (cn *conn) read(replies chan<- reply) error {
	br := bufio.NewReaderSize(cn.c, 64<<10)
	var size [4]byte
	for {
		deadline, limit := time.Now().Add(idleTimeout), int32(maxFrame)
		if !cn.authenticated() {
			deadline, limit = cn.authBy, maxAuthFrame
		}
		_ = cn.c.SetReadDeadline(deadline)
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return err
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 8 || n > limit {
			return fmt.Errorf("request of %d bytes: outside 8..%d", n, limit)
		}
		if err := cn.held.Acquire(cn.ctx, int64(n)); err != nil {
			return err
		}
		buf, err := readBody(br, int(n))
		if err != nil {
			return err
		}
		r, err := cn.decode(buf)
		if err != nil {
			return err
		}
		r.size = int64(n)
		select {
		case replies <- r:
		case <-cn.ctx.Done():
			return cn.ctx.Err()
		}
		if r.last {
			return errAuthClosed
		}
	}
}

// readBody reads a request of n bytes. Past 1 MiB the buffer grows as the
// bytes arrive: a size prefix alone must not reserve maxFrame bytes.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n <= 1<<20 {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	var b bytes.Buffer
	b.Grow(1 << 20)
	if _, err := io.CopyN(&b, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b.Bytes(), nil
}

// errAuthClosed ends a connection whose authentication failed.
var errAuthClosed = errors.New("authentication failed")

// decode parses one request and starts it.
func (cn *conn) decode(buf []byte) (reply, error) {
	rd := kbin.Reader{Src: buf}
	key, version, corr := rd.Int16(), rd.Int16(), rd.Int32()
	clientID := rd.NullableString()
	if !rd.Ok() {
		return reply{}, errors.New("truncated request header")
	}
	if clientID != nil && cn.client == "" {
		cn.client = *clientID
	}
	r := reply{corr: corr, key: key, version: version, start: time.Now()}
	req := kmsg.RequestForKey(key)
	vr, supported := versions[key]
	if req == nil || !supported {
		// Clients only send what ApiVersions advertised: anything else
		// is a broken or hostile client.
		return reply{}, fmt.Errorf("request key %d is not supported", key)
	}
	if !cn.authenticated() && !beforeAuth(key) {
		// Kafka closes such a connection without an answer.
		cn.s.m.authFailures.WithLabelValues("none").Inc()
		return reply{}, fmt.Errorf("%s before authentication", kmsg.NameForKey(key))
	}
	if version < vr.min || version > vr.max {
		if key == apiVersionsKey {
			// KIP-511: answer in v0 with UNSUPPORTED_VERSION and the
			// supported range, so the client retries with one it has.
			resp := apiVersionsResponse(0)
			resp.ErrorCode = codeUnsupportedVersion
			r.raw = resp.AppendTo(nil)
			return r, nil
		}
		return reply{}, fmt.Errorf("request %s v%d is not supported (%d..%d)", kmsg.NameForKey(key), version, vr.min, vr.max)
	}
	req.SetVersion(version)
	if req.IsFlexible() {
		// Request header v2: tagged fields after the client id.
		for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
			rd.Uvarint()
			rd.Span(int(rd.Uvarint()))
		}
		if !rd.Ok() {
			return reply{}, errors.New("truncated request header tags")
		}
	}
	if err := req.ReadFrom(rd.Src); err != nil {
		return reply{}, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	if key == saslHandshakeKey || key == saslAuthenticateKey {
		r.thunk, r.last = cn.sasl(req)
		return r, nil
	}
	r.thunk = cn.s.handle(cn, req)
	return r, nil
}

// write answers requests in order; a failed write closes the connection.
// Each answer is written as soon as it is ready: the next thunk may wait
// (a long poll), and a buffered answer must not wait with it.
func (cn *conn) write(replies <-chan reply) {
	var buf []byte
	broken := false
	for r := range replies {
		var resp kmsg.Response
		if r.thunk != nil {
			resp = r.thunk()
			cn.s.m.observe(r.key, r.start, resp)
		}
		cn.held.Release(r.size)
		if r.thunk != nil && resp == nil {
			continue // acks=0: no answer
		}
		if broken {
			continue // let the rest settle; nobody reads the answers
		}
		buf = append(buf[:0], 0, 0, 0, 0)
		buf = kbin.AppendInt32(buf, r.corr)
		if r.raw != nil {
			buf = append(buf, r.raw...)
		} else {
			resp.SetVersion(r.version)
			if resp.IsFlexible() && r.key != apiVersionsKey {
				buf = append(buf, 0) // response header v1: no tagged fields
			}
			buf = resp.AppendTo(buf)
		}
		binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		_ = cn.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := cn.c.Write(buf); err != nil {
			broken = true
			_ = cn.c.Close()
		}
		if fr, ok := resp.(*kmsg.FetchResponse); ok {
			putBatchBufs(fr)
		}
		if cap(buf) > 4<<20 {
			buf = nil // do not keep a big fetch's buffer per connection
		}
	}
}
