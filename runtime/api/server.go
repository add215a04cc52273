package api

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
)

// DefaultAddr is where the API listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8083"

// maxBody bounds request bodies: pipeline files are at most
// pipelines.MaxFileSize, JSON bodies much less.
const maxBody = pipelines.MaxFileSize + 1024

// ErrTokenRequired is returned by Start when the listener is reachable beyond
// loopback and no token is configured.
var ErrTokenRequired = errors.New("api: a bearer token is required when listening beyond loopback (set --token-file or BRAID_TOKEN, or listen on 127.0.0.1)")

// Options configures a Server.
type Options struct {
	// Addr is the listen address (default 127.0.0.1:8083).
	Addr string
	// Token is the bearer token clients must present. Required unless Addr
	// is loopback-only; when set it is always checked.
	Token string
	// TLSCert and TLSKey are PEM files; both set enables TLS.
	TLSCert, TLSKey string
	Logger          *slog.Logger
	// Levels backs /admin/loggers; nil serves a fixed root level.
	Levels *Levels
	// SchemaRegistry, when set, serves the Confluent schema registry routes
	// (/subjects, /schemas, /config, /mode, /compatibility).
	SchemaRegistry http.Handler
	// PipelineEnv resolves ${VAR} in pipelines uploaded with PUT /pipelines;
	// nil means an empty environment. ${file:...} is never allowed there.
	PipelineEnv func(string) (string, bool)
	// Version is shown by GET /.
	Version string
	// AllowPaths are the directories the Path settings (sdk.Field.Path) of
	// connectors created over the API may name (default: the working
	// directory). DenyPaths are refused even inside them (the log's own
	// files, the token file); /proc, /sys and /dev always are.
	AllowPaths, DenyPaths []string
	// HistoryEvery is how often the connectors' throughput and lag are
	// sampled for GET /connectors/{name}/history (default 10s; 15 minutes
	// are kept).
	HistoryEvery time.Duration
}

// Server is the REST API of one engine.
type Server struct {
	eng    *engine.Engine
	opts   Options
	logger *slog.Logger
	mux    *http.ServeMux
	srv    *http.Server
	paths  pathRule
	// pathsErr is a bad AllowPaths or DenyPaths entry, reported by Start.
	pathsErr error

	hist *history

	mu   sync.Mutex
	ln   net.Listener
	done chan struct{}
}

// New builds a server for eng; Start makes it listen.
func New(eng *engine.Engine, opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Levels == nil {
		opts.Levels = NewLevels(slog.LevelInfo)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if len(opts.AllowPaths) == 0 {
		opts.AllowPaths = defaultAllowPaths()
	}
	s := &Server{eng: eng, opts: opts, logger: opts.Logger, mux: http.NewServeMux(), hist: newHistory(opts.HistoryEvery)}
	s.paths, s.pathsErr = newPathRule(opts.AllowPaths, opts.DenyPaths)
	s.routes()
	return s
}

// Handler returns the API's handler with Host, Origin and Content-Type
// checks (guard.go), authentication and body limits.
func (s *Server) Handler() http.Handler { return s.middleware(s.mux) }

// LoopbackOnly reports whether addr can only be reached from this machine
// (the one rule, sdk.LoopbackOnly, that listening connectors use too).
func LoopbackOnly(addr string) bool { return sdk.LoopbackOnly(addr) }

// Start listens and serves in the background until Shutdown or ctx ends.
func (s *Server) Start(ctx context.Context) error {
	if s.pathsErr != nil {
		return s.pathsErr
	}
	if s.opts.Token == "" && !LoopbackOnly(s.opts.Addr) {
		return fmt.Errorf("%w: address %s", ErrTokenRequired, s.opts.Addr)
	}
	if (s.opts.TLSCert == "") != (s.opts.TLSKey == "") {
		return errors.New("api: TLS needs both a certificate and a key file (--tls-cert, --tls-key)")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.opts.Addr, err)
	}
	if s.opts.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.opts.TLSCert, s.opts.TLSKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("api: load TLS certificate %s: %w", s.opts.TLSCert, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.mu.Lock()
	s.ln, s.done = ln, make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("api server stopped", "err", err)
		}
	}()
	go s.refreshSecrets(ctx)
	go s.recordHistory(ctx)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Shutdown(sctx)
		case <-s.done:
		}
	}()
	scheme := "http"
	if s.opts.TLSCert != "" {
		scheme = "https"
	}
	s.logger.Info("REST API listening", "url", scheme+"://"+ln.Addr().String(), "auth", s.opts.Token != "")
	return nil
}

// refreshSecrets registers the secrets of connectors started by other means
// than this API (pipeline files) with the log scrubber.
func (s *Server) refreshSecrets(ctx context.Context) {
	s.every(ctx, time.Second, func() { s.opts.Levels.AddSecrets(s.secrets()...) })
}

// every runs fn now and then every d until ctx ends or the server stops.
func (s *Server) every(ctx context.Context, d time.Duration, fn func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-tick.C:
		}
	}
}

// Addr returns the address the server listens on (after Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting requests and waits for running ones within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = s.srv.Close()
	}
	return err
}

// open routes need no token: liveness and readiness probes, and the web
// console's login form and static files (console.go).
func open(path string) bool { return path == "/healthz" || path == "/readyz" || consoleOpen(path) }

func (s *Server) middleware(next http.Handler) http.Handler {
	token := []byte(s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, check := range []func(*http.Request) (int, string){s.checkHost, s.checkOrigin} {
			if code, msg := check(r); code != 0 {
				writeError(w, code, "%s", msg)
				return
			}
		}
		if len(token) > 0 && !open(r.URL.Path) && !s.consoleSession(r) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
				if !ok && consoleLoginRedirect(w, r) {
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="braid"`)
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
		}
		if code, msg := checkContentType(r); code != 0 {
			writeError(w, code, "%s", msg)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// errorBody is Kafka Connect's error shape.
type errorBody struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, errorBody{Code: code, Message: fmt.Sprintf(format, args...)})
}

// readJSON decodes a request body into v, answering 400/413 itself.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", tooBig.Limit)
			return false
		}
		writeError(w, http.StatusBadRequest, "request body is not valid JSON: %v", err)
		return false
	}
	return true
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", s.root)
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("GET /metrics", s.metricsHandler())
	s.connectorRoutes()
	s.offsetRoutes()
	s.pluginRoutes()
	s.loggerRoutes()
	s.pipelineRoutes()
	s.topicRoutes()
	s.consoleRoutes()
	if s.opts.SchemaRegistry != nil {
		for _, p := range []string{"/subjects", "/schemas", "/config", "/mode", "/compatibility", "/contexts"} {
			m.Handle(p, s.opts.SchemaRegistry)
			m.Handle(p+"/", s.opts.SchemaRegistry)
		}
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path)
	})
}

func (s *Server) root(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{
		"version":   s.opts.Version,
		"commit":    "",
		"worker_id": s.eng.Worker.ID(),
	})
}

// healthz is liveness: 503 once the NATS connection is closed for good
// (the process can do nothing more and should be restarted); a connection
// that is reconnecting is still alive.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if nc := s.eng.Conn.NC; nc == nil || nc.IsClosed() {
		writeError(w, http.StatusServiceUnavailable, "%v", s.eng.Conn.Healthy())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 while the log answers and the worker reaches the
// cluster's state (so it can win and keep task leases); 503 with the
// reason otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.eng.Conn.Healthy(); err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	if err := s.eng.Conn.NC.FlushWithContext(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "NATS does not answer: %v", err)
		return
	}
	if err := s.eng.Worker.Ready(); err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
