package http

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// WebhookPlugin returns the http-webhook source connector.
func WebhookPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: webhookSpec(), NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return NewWebhook(cfg, env)
	}}
}

func webhookSpec() sdk.Spec {
	return sdk.Spec{
		Name:    "http-webhook",
		Kind:    sdk.KindSource,
		Summary: "Receives records over HTTP and answers 200 only once they are stored in the log.",
		Doc: "Each POST or PUT becomes one record, or one record per element when the body is a batch: " +
			"a JSON array (with `batch: true`, or `Content-Type: application/json; batch=true`) or " +
			"newline-delimited JSON (`Content-Type: application/x-ndjson`). A client that gets anything " +
			"but 200 may retry safely: nothing was lost, at worst a record arrives twice. When the log " +
			"falls behind, requests are refused with 429 and Retry-After instead of being buffered.",
		Fields: []sdk.Field{
			{Name: "listen", Type: sdk.TypeString, Default: "127.0.0.1:9000", Check: checkListen,
				Doc: "Address the HTTP server listens on, host:port. Use \":9000\" to accept connections from other machines."},
			{Name: "path", Type: sdk.TypeString, Default: "/", Check: checkURLPath,
				Doc: "URL path that accepts records; other paths answer 404."},
			{Name: "batch", Type: sdk.TypeBool, Default: false,
				Doc: "Split a JSON array body into one record per element (a body that is not an array stays one record)."},
			{Name: "max_body", Type: sdk.TypeInt, Default: 10 << 20, Min: 1,
				Doc: "Largest request body accepted, in bytes; larger bodies answer 413."},
			{Name: "auth_token", Type: sdk.TypeString, Secret: true,
				Doc: "When set, requests must carry `Authorization: Bearer <auth_token>`."},
			{Name: "hmac_secret", Type: sdk.TypeString, Secret: true,
				Doc: "When set, requests must carry an HMAC-SHA256 of the body, hex encoded (optionally prefixed `sha256=`), in `hmac_header`."},
			{Name: "hmac_header", Type: sdk.TypeString, Default: "X-Signature-256",
				Doc: "Header holding the HMAC signature."},
			{Name: "key_header", Type: sdk.TypeString,
				Doc: "Request header whose value becomes every record's key.", Example: "X-Event-Id"},
			{Name: "key_field", Type: sdk.TypeString, Check: checkPath,
				Doc: "Dotted path of a JSON field whose value becomes the record key (per record).", Example: "order.id"},
			{Name: "headers", Type: sdk.TypeList,
				Doc: "Request headers copied into record headers; others are dropped.", Example: "[X-Request-Id, User-Agent]"},
			{Name: "queue_size", Type: sdk.TypeInt, Default: 64, Min: 1,
				Doc: "Requests that may wait for the log at once; beyond it requests answer 429 with Retry-After."},
			{Name: "max_batch", Type: sdk.TypeInt, Default: 5000, Min: 1,
				Doc: "Most records handed to the log in one batch (a single larger request is still handed over whole)."},
			{Name: "ack_timeout", Type: sdk.TypeDuration, Default: "30s", Check: checkPositiveDuration,
				Doc: "How long a request waits for the log to store its records before it answers 503."},
			{Name: "retry_after", Type: sdk.TypeDuration, Default: "1s", Check: checkPositiveDuration,
				Doc: "Retry-After sent with 429 and 503 answers (rounded up to whole seconds)."},
		},
		Check: checkWebhook,
	}
}

func checkWebhook(cfg sdk.Config) []sdk.FieldError {
	if cfg.String("key_header") != "" && cfg.String("key_field") != "" {
		return []sdk.FieldError{{Field: "key_field", Message: "set key_header or key_field, not both"}}
	}
	return nil
}

func checkListen(v any) error {
	if _, _, err := net.SplitHostPort(v.(string)); err != nil {
		return fmt.Errorf("must be host:port: %v", err)
	}
	return nil
}

func checkURLPath(v any) error {
	if !strings.HasPrefix(v.(string), "/") {
		return errors.New("must start with /")
	}
	return nil
}

func checkPositiveDuration(v any) error {
	if v.(time.Duration) <= 0 {
		return errors.New("must be greater than 0")
	}
	return nil
}

// Request states: a request is queued until Read takes it or its client gives
// up; the first of the two wins.
const (
	reqQueued int32 = iota
	reqTaken
	reqCancelled
)

type webhookRequest struct {
	seq   uint64
	batch *batch
	state atomic.Int32
	done  chan struct{} // closed once acked (err nil) or failed
	err   error
}

func (r *webhookRequest) take() bool   { return r.state.CompareAndSwap(reqQueued, reqTaken) }
func (r *webhookRequest) cancel() bool { return r.state.CompareAndSwap(reqQueued, reqCancelled) }

// Webhook is the http-webhook source.
type Webhook struct {
	cfg  webhookConfig
	log  *slog.Logger
	boot string // distinguishes this run's positions from a previous run's

	queue  chan *webhookRequest
	closed chan struct{}
	once   sync.Once

	ln  net.Listener
	srv *nethttp.Server

	carry *webhookRequest // taken by Read but did not fit its batch; Read only

	mu       sync.Mutex
	nextSeq  uint64
	inflight []*webhookRequest // handed to the worker, not acked, seq order
}

type webhookConfig struct {
	listen, path           string
	batch                  bool
	maxBody                int64
	token, hmacKey         []byte
	hmacHeader             string
	keyHeader, keyField    string
	headers                []string
	queueSize, maxBatch    int
	ackTimeout, retryAfter time.Duration
}

// NewWebhook builds the source from validated settings; Open starts listening.
func NewWebhook(cfg sdk.Config, env sdk.Env) (*Webhook, error) {
	c := webhookConfig{
		listen:     cfg.String("listen"),
		path:       cfg.String("path"),
		batch:      cfg.Bool("batch"),
		maxBody:    cfg.Int("max_body"),
		token:      []byte(cfg.String("auth_token")),
		hmacKey:    []byte(cfg.String("hmac_secret")),
		hmacHeader: cfg.String("hmac_header"),
		keyHeader:  cfg.String("key_header"),
		keyField:   cfg.String("key_field"),
		queueSize:  int(cfg.Int("queue_size")),
		maxBatch:   int(cfg.Int("max_batch")),
		ackTimeout: cfg.Duration("ack_timeout"),
		retryAfter: cfg.Duration("retry_after"),
	}
	for _, h := range cfg.Strings("headers") {
		c.headers = append(c.headers, nethttp.CanonicalHeaderKey(h))
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Webhook{
		cfg:    c,
		log:    logger,
		boot:   hex.EncodeToString(b[:]),
		queue:  make(chan *webhookRequest, c.queueSize),
		closed: make(chan struct{}),
	}, nil
}

// Open starts the HTTP server. A webhook cannot replay, so pos is ignored.
func (w *Webhook) Open(ctx context.Context, _ sdk.Position) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", w.cfg.listen)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("http-webhook: listen on %s: %w", w.cfg.listen, err))
	}
	w.ln = ln
	w.srv = &nethttp.Server{
		Handler:           w,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := w.srv.Serve(ln); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
			w.log.Error("http-webhook server stopped", "listen", w.cfg.listen, "error", err)
		}
	}()
	w.log.Info("http-webhook listening", "listen", ln.Addr().String(), "path", w.cfg.path)
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (w *Webhook) Addr() string {
	if w.ln == nil {
		return ""
	}
	return w.ln.Addr().String()
}

var errClosed = errors.New("http-webhook: source closed")

// Read hands the worker the records of one or more whole requests.
func (w *Webhook) Read(ctx context.Context) ([]sdk.Record, error) {
	first := w.carry
	w.carry = nil
	for first == nil {
		select {
		case r := <-w.queue:
			if r.take() {
				first = r
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.closed:
			return nil, errClosed
		}
	}
	taken := []*webhookRequest{first}
	n := first.batch.len()
fill:
	for n < w.cfg.maxBatch {
		select {
		case r := <-w.queue:
			if !r.take() {
				continue
			}
			if n+r.batch.len() > w.cfg.maxBatch {
				w.carry = r
				break fill
			}
			taken = append(taken, r)
			n += r.batch.len()
		default:
			break fill
		}
	}
	out := make([]sdk.Record, 0, n)
	w.mu.Lock()
	for _, r := range taken {
		w.nextSeq++
		r.seq = w.nextSeq
		size := r.batch.len()
		buf := make([]byte, 0, size*(len(w.boot)+16))
		for i := range size {
			start := len(buf)
			buf = w.appendPosition(buf, r.seq, i)
			out = append(out, r.batch.record(i, buf[start:len(buf):len(buf)]))
		}
	}
	w.inflight = append(w.inflight, taken...)
	w.mu.Unlock()
	return out, nil
}

// appendPosition appends "<boot>.<seq>.<index>": unique across restarts, so
// the log's duplicate window never mistakes a new record for a replay.
func (w *Webhook) appendPosition(b []byte, seq uint64, idx int) []byte {
	b = append(b, w.boot...)
	b = append(b, '.')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(idx), 10)
}

func (w *Webhook) parsePosition(pos sdk.Position) (seq uint64, idx int, ok bool) {
	boot, rest, ok1 := strings.Cut(string(pos), ".")
	s, i, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || boot != w.boot {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(s, 10, 64)
	idx, err2 := strconv.Atoi(i)
	return seq, idx, err1 == nil && err2 == nil
}

// NotReplayable tells the worker a webhook cannot replay a request after a
// crash: the client, never answered, sends it again.
func (w *Webhook) NotReplayable() {}

// Ack answers every request whose records are all covered by pos.
func (w *Webhook) Ack(_ context.Context, pos sdk.Position) error {
	seq, idx, ok := w.parsePosition(pos)
	if !ok {
		// A position from an earlier run: its requests were answered then.
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for ; n < len(w.inflight); n++ {
		r := w.inflight[n]
		if r.seq > seq || (r.seq == seq && idx < r.batch.len()-1) {
			break
		}
		close(r.done)
	}
	rest := copy(w.inflight, w.inflight[n:])
	clear(w.inflight[rest:])
	w.inflight = w.inflight[:rest]
	return nil
}

// Close stops accepting requests; those still waiting answer 503.
func (w *Webhook) Close(ctx context.Context) error {
	var err error
	w.once.Do(func() {
		close(w.closed)
		w.mu.Lock()
		for _, r := range w.inflight {
			r.err = errClosed
			close(r.done)
		}
		w.inflight = nil
		w.mu.Unlock()
		if w.srv != nil {
			if err = w.srv.Shutdown(ctx); err != nil {
				_ = w.srv.Close()
			}
		}
	})
	return err
}

// ServeHTTP accepts one request of records and waits for the log.
func (w *Webhook) ServeHTTP(rw nethttp.ResponseWriter, req *nethttp.Request) {
	if req.URL.Path != w.cfg.path {
		nethttp.NotFound(rw, req)
		return
	}
	if req.Method != nethttp.MethodPost && req.Method != nethttp.MethodPut {
		rw.Header().Set("Allow", "POST, PUT")
		reply(rw, nethttp.StatusMethodNotAllowed, "use POST or PUT")
		return
	}
	body, status, msg := w.readBody(rw, req)
	if status != 0 {
		reply(rw, status, msg)
		return
	}
	if status, msg := w.authorize(req, body); status != 0 {
		reply(rw, status, msg)
		return
	}
	b, err := w.parse(req, body)
	if err != nil {
		reply(rw, nethttp.StatusBadRequest, err.Error())
		return
	}
	if b.len() == 0 {
		replyAccepted(rw, 0)
		return
	}
	w.deliver(rw, req, b)
}

func (w *Webhook) deliver(rw nethttp.ResponseWriter, req *nethttp.Request, b *batch) {
	r := &webhookRequest{batch: b, done: make(chan struct{})}
	select {
	case <-w.closed:
		w.retryLater(rw, nethttp.StatusServiceUnavailable, "source is shutting down")
		return
	default:
	}
	select {
	case w.queue <- r:
	default:
		w.retryLater(rw, nethttp.StatusTooManyRequests, "the log is behind; retry later")
		return
	}
	timer := time.NewTimer(w.cfg.ackTimeout)
	defer timer.Stop()
	select {
	case <-r.done:
		if r.err != nil {
			w.retryLater(rw, nethttp.StatusServiceUnavailable, "records were not stored; retry")
			return
		}
		replyAccepted(rw, b.len())
	case <-w.closed:
		r.cancel()
		w.retryLater(rw, nethttp.StatusServiceUnavailable, "source is shutting down")
	case <-timer.C:
		r.cancel()
		w.retryLater(rw, nethttp.StatusServiceUnavailable, "records not stored within ack_timeout; retry")
	case <-req.Context().Done():
		r.cancel() // the client is gone; if Read has not taken them, drop them
	}
}

func (w *Webhook) readBody(rw nethttp.ResponseWriter, req *nethttp.Request) ([]byte, int, string) {
	if req.ContentLength > w.cfg.maxBody {
		return nil, nethttp.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than max_body (%d bytes)", w.cfg.maxBody)
	}
	rd := nethttp.MaxBytesReader(rw, req.Body, w.cfg.maxBody)
	var body []byte
	var err error
	if n := req.ContentLength; n >= 0 {
		body = make([]byte, n)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		var tooBig *nethttp.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nethttp.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than max_body (%d bytes)", w.cfg.maxBody)
		}
		return nil, nethttp.StatusBadRequest, "reading body: " + err.Error()
	}
	return body, 0, ""
}

func (w *Webhook) authorize(req *nethttp.Request, body []byte) (int, string) {
	if len(w.cfg.token) > 0 {
		got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), w.cfg.token) != 1 {
			return nethttp.StatusUnauthorized, "missing or wrong bearer token"
		}
	}
	if len(w.cfg.hmacKey) > 0 {
		sig := strings.TrimPrefix(req.Header.Get(w.cfg.hmacHeader), "sha256=")
		got, err := hex.DecodeString(sig)
		mac := hmac.New(sha256.New, w.cfg.hmacKey)
		mac.Write(body)
		if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			return nethttp.StatusUnauthorized, "missing or wrong " + w.cfg.hmacHeader + " signature"
		}
	}
	return 0, ""
}

// retryLater answers a status the client should retry, with Retry-After.
func (w *Webhook) retryLater(rw nethttp.ResponseWriter, status int, msg string) {
	secs := int((w.cfg.retryAfter + time.Second - 1) / time.Second)
	rw.Header().Set("Retry-After", strconv.Itoa(secs))
	reply(rw, status, msg)
}

func reply(rw nethttp.ResponseWriter, status int, msg string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	fmt.Fprintf(rw, "{\"error\":%s}\n", strconv.Quote(msg))
}

func replyAccepted(rw nethttp.ResponseWriter, n int) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(nethttp.StatusOK)
	fmt.Fprintf(rw, "{\"accepted\":%d}\n", n)
}
