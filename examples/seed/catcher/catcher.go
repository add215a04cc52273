package catcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Config says where the catcher listens and stores what it receives.
type Config struct {
	// Dir receives mail/*.eml and http/*.json; it is created when missing.
	Dir string
	// SMTPAddr and HTTPAddr are loopback host:port addresses; port 0 picks a
	// free port (see Catcher.SMTPAddr and Catcher.HTTPAddr).
	SMTPAddr string
	HTTPAddr string
	Logger   *slog.Logger
}

// Stats counts what arrived.
type Stats struct {
	Mails        int `json:"mails"`
	HTTPRequests int `json:"http_requests"`
	// HTTPRecords counts the records of distinct requests: a JSON array
	// counts its elements, anything else one. A request repeating an earlier
	// Idempotency-Key replaces it instead of adding to the count.
	HTTPRecords int `json:"http_records"`
}

// Catcher is a running SMTP server and HTTP receiver.
type Catcher struct {
	smtpLn, httpLn net.Listener
	smtpSrv        *smtp.Server
	httpSrv        *http.Server
	mailDir        string
	httpDir        string
	logger         *slog.Logger

	mu       sync.Mutex
	stats    Stats
	byKey    map[string]int // idempotency key -> records stored under it
	sequence int
}

// maxBody bounds one HTTP request or one message.
const maxBody = 32 << 20

// Start listens on both addresses and serves until Close.
func Start(cfg Config) (*Catcher, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Catcher{mailDir: filepath.Join(cfg.Dir, "mail"), httpDir: filepath.Join(cfg.Dir, "http"),
		logger: cfg.Logger, byKey: map[string]int{}}
	for _, d := range []string{c.mailDir, c.httpDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("catcher: %w", err)
		}
	}
	var err error
	if c.smtpLn, err = listenLoopback("smtp", cfg.SMTPAddr); err != nil {
		return nil, err
	}
	if c.httpLn, err = listenLoopback("http", cfg.HTTPAddr); err != nil {
		_ = c.smtpLn.Close()
		return nil, err
	}
	c.smtpSrv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{c: c}, nil
	}))
	c.smtpSrv.Domain = "localhost"
	c.smtpSrv.MaxMessageBytes = maxBody
	c.smtpSrv.ReadTimeout, c.smtpSrv.WriteTimeout = 30*time.Second, 30*time.Second
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_stats", c.serveStats)
	mux.HandleFunc("POST /", c.serveRecords)
	mux.HandleFunc("PUT /", c.serveRecords)
	c.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.smtpSrv.Serve(c.smtpLn) }()
	go func() { _ = c.httpSrv.Serve(c.httpLn) }()
	return c, nil
}

func listenLoopback(what, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("catcher: %s address %q: %w", what, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("catcher: %s address %q: only loopback addresses are served", what, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("catcher: %s: %w", what, err)
	}
	return ln, nil
}

// SMTPAddr is the address the SMTP server listens on.
func (c *Catcher) SMTPAddr() string { return c.smtpLn.Addr().String() }

// HTTPAddr is the address the HTTP receiver listens on.
func (c *Catcher) HTTPAddr() string { return c.httpLn.Addr().String() }

// MailDir is where messages are stored, one .eml file each.
func (c *Catcher) MailDir() string { return c.mailDir }

// HTTPDir is where request bodies are stored, one .json file each.
func (c *Catcher) HTTPDir() string { return c.httpDir }

// Stats returns the counts so far.
func (c *Catcher) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close stops both servers within ctx.
func (c *Catcher) Close(ctx context.Context) error {
	herr := c.httpSrv.Shutdown(ctx)
	serr := c.smtpSrv.Shutdown(ctx)
	if errors.Is(serr, smtp.ErrServerClosed) {
		serr = nil
	}
	return errors.Join(herr, serr)
}

func (c *Catcher) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.Stats())
}

func (c *Catcher) serveRecords(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "cannot read the body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	n := 1
	var arr []json.RawMessage
	if json.Unmarshal(body, &arr) == nil {
		n = len(arr)
	}
	key := r.Header.Get("Idempotency-Key")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sequence++
	name := fmt.Sprintf("request-%06d.json", c.sequence)
	if key != "" {
		name = fileName(key) + ".json"
	}
	if err := os.WriteFile(filepath.Join(c.httpDir, name), body, 0o644); err != nil {
		c.logger.Error("catcher: store request", "err", err)
		http.Error(w, "cannot store the body", http.StatusInternalServerError)
		return
	}
	c.stats.HTTPRequests++
	if key != "" {
		c.stats.HTTPRecords -= c.byKey[key]
		c.byKey[key] = n
	}
	c.stats.HTTPRecords += n
	c.logger.Debug("catcher: request stored", "path", r.URL.Path, "records", n, "file", name)
	w.WriteHeader(http.StatusOK)
}

// fileName turns an idempotency key such as "events/2/1200-1299" into a
// file name that stays inside the directory.
func fileName(key string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, key)
}

// session receives one SMTP conversation.
type session struct {
	c    *Catcher
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Mails++
	name := fmt.Sprintf("mail-%06d.eml", c.stats.Mails)
	if err := os.WriteFile(filepath.Join(c.mailDir, name), b, 0o644); err != nil {
		c.stats.Mails--
		c.logger.Error("catcher: store mail", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store the message"}
	}
	c.logger.Debug("catcher: mail stored", "from", s.from, "to", strings.Join(s.to, ","), "file", name)
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
