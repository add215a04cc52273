// Package natsd starts the embedded NATS JetStream server, or connects to an
// external NATS cluster, and hands the rest of Braid one client connection.
//
// The embedded server opens no TCP port unless Config.Listen asks for one (never
// 4222 by default: other NATS servers live there); Braid talks to it through an
// in-process connection.
package natsd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config chooses between the embedded server and an external cluster.
type Config struct {
	// URL of an external NATS cluster ("nats://127.0.0.1:4222"); empty starts
	// the embedded server.
	URL string
	// CredsFile is a NATS credentials file for the external cluster.
	CredsFile string
	// Token authenticates to the external cluster.
	Token string
	// TLS settings for the external cluster.
	TLSCA, TLSCert, TLSKey string

	// DataDir holds the embedded server's JetStream files (default "./data").
	DataDir string
	// Listen opens a client port on the embedded server ("127.0.0.1:4333"),
	// so other workers or NATS tools can reach it. Empty opens none.
	Listen string
	// MaxMemory and MaxStore bound JetStream (0: the server's defaults).
	MaxMemory, MaxStore int64
	// Name of this connection, shown in server monitoring.
	Name string

	Logger *slog.Logger
}

// Conn is the connection the rest of Braid uses.
type Conn struct {
	NC      *nats.Conn
	server  *server.Server // nil for an external cluster
	log     *slog.Logger
	closed  chan struct{} // closed when NC is closed for good
	mu      sync.Mutex
	closing bool // Close was called: the end is expected
}

// Closed is closed when the connection is closed for good: by Close, or
// because the client gave up (a server that refused it, a protocol error).
// A process should exit then, so its supervisor starts it again.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// Unexpected reports whether the connection closed without Close.
func (c *Conn) Unexpected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		return !c.closing
	default:
		return false
	}
}

// Healthy returns nil while the connection is up or reconnecting within
// its retry policy, and an error once it is closed for good.
func (c *Conn) Healthy() error {
	switch {
	case c.NC.IsClosed():
		if err := c.NC.LastError(); err != nil {
			return fmt.Errorf("NATS connection closed for good: %w", err)
		}
		return errors.New("NATS connection closed for good")
	case !c.NC.IsConnected():
		return errors.New("NATS connection lost; reconnecting")
	}
	return nil
}

// closedHandler returns the option that closes c.closed with the
// connection, and logs an end nobody asked for.
func closedHandler(c *Conn) nats.Option {
	return nats.ClosedHandler(func(nc *nats.Conn) {
		c.mu.Lock()
		expected := c.closing
		c.mu.Unlock()
		if !expected {
			c.log.Error("NATS connection closed for good", "err", nc.LastError())
		}
		close(c.closed)
	})
}

// Embedded reports whether Braid runs its own server.
func (c *Conn) Embedded() bool { return c.server != nil }

// ClientURL returns the embedded server's client URL when it listens, else "".
func (c *Conn) ClientURL() string {
	if c.server == nil || c.server.Addr() == nil {
		return ""
	}
	return c.server.ClientURL()
}

// Start starts the embedded server (or connects to cfg.URL) and returns a
// connection once JetStream answers.
func Start(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "braid"
	}
	if cfg.URL != "" {
		return connect(ctx, cfg)
	}
	return embed(ctx, cfg)
}

func embed(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "./data"
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		JetStream:          true,
		StoreDir:           filepath.Join(dir, "jetstream"),
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		DontListen:         cfg.Listen == "",
		NoSigs:             true,
		MaxPayload:         8 << 20,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats listen %q: port: %w", cfg.Listen, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
		}
		opts.Host, opts.Port = host, p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	srv.SetLoggerV2(&slogAdapter{log: cfg.Logger.With("component", "nats")}, false, false, false)
	go srv.Start()
	deadline := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !srv.ReadyForConnections(deadline) {
		srv.Shutdown()
		return nil, errors.New("embedded nats did not become ready (is the data dir locked by another braid?)")
	}
	c := &Conn{server: srv, log: cfg.Logger, closed: make(chan struct{})}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name(cfg.Name), nats.MaxReconnects(-1), closedHandler(c))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	c.NC = nc
	cfg.Logger.Info("embedded nats started", "data_dir", dir, "listen", cfg.Listen)
	return c, nil
}

func connect(ctx context.Context, cfg Config) (*Conn, error) {
	opts := []nats.Option{nats.Name(cfg.Name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	if d, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(d)))
	}
	log := cfg.Logger.With("component", "nats")
	c := &Conn{log: cfg.Logger, closed: make(chan struct{})}
	opts = append(opts, closedHandler(c),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", redactURL(cfg.URL), err)
	}
	log.Info("connected to external nats", "url", nc.ConnectedUrlRedacted())
	c.NC = nc
	return c, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("nats tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nats tls ca %s: no certificates found", cfg.TLSCA)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("nats tls cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Close drains the connection and stops the embedded server, within ctx.
func (c *Conn) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.NC.Drain()
		for c.NC.IsDraining() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		c.NC.Close()
		if c.server != nil {
			c.server.Shutdown()
			c.server.WaitForShutdown()
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.NC.Close()
		if c.server != nil {
			c.server.Shutdown()
		}
		return fmt.Errorf("close nats: %w", ctx.Err())
	}
}

func redactURL(u string) string {
	nu, err := urlParse(u)
	if err != nil {
		return "(unparsable url)"
	}
	return nu
}
