package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// SinkPlugin returns the http sink connector.
func SinkPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: sinkSpec(), NewSink: func(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
		return NewSink(cfg, env)
	}}
}

func sinkSpec() sdk.Spec {
	return sdk.Spec{
		Name:    "http",
		Kind:    sdk.KindSink,
		Summary: "Sends records to an HTTP endpoint, one per request or as JSON arrays.",
		Doc: "The URL is a Go text/template over the record: `{{.Topic}}`, `{{.Partition}}`, `{{.Offset}}`, " +
			"`{{.Key}}` and `{{.Fields.name}}` (the decoded value); `{{pathEscape .Key}}` and `{{queryEscape ...}}` " +
			"escape parts. 5xx, 429 and network errors are retried with exponential backoff (honouring Retry-After); " +
			"any other 4xx sends the record (or the whole batch request) to the dead-letter topic. Every request carries " +
			"an idempotency header `topic/partition/offset` (batches: `topic/partition/first-last`) so the receiver can drop replays.",
		Fields: []sdk.Field{
			{Name: "url", Type: sdk.TypeString, Required: true, Check: checkTemplate,
				Doc: "Target URL (http or https), a text/template.", Example: "https://api.example.com/orders/{{pathEscape .Key}}"},
			{Name: "method", Type: sdk.TypeString, Default: "POST", Enum: []string{"POST", "PUT", "PATCH"},
				Doc: "HTTP method."},
			{Name: "mode", Type: sdk.TypeString, Default: "single", Enum: []string{"single", "batch"},
				Doc: "`single` sends one request per record with the record value as body; `batch` sends consecutive records with the same URL as one JSON array."},
			{Name: "batch_max", Type: sdk.TypeInt, Default: 500, Min: 1,
				Doc: "Most records in one batch request."},
			{Name: "content_type", Type: sdk.TypeString, Default: "application/json",
				Doc: "Content-Type of single-mode requests (batch requests are always application/json)."},
			{Name: "headers", Type: sdk.TypeMap, Doc: "Extra request headers.", Example: "{X-Source: braid}"},
			{Name: "secret_headers", Type: sdk.TypeMap, Secret: true,
				Doc: "Extra request headers whose values are secret (Authorization, API keys).", Example: "{Authorization: \"Bearer ${API_TOKEN}\"}"},
			{Name: "idempotency_header", Type: sdk.TypeString, Default: "Idempotency-Key",
				Doc: "Header carrying the records' log coordinates; empty disables it."},
			{Name: "timeout", Type: sdk.TypeDuration, Default: "10s", Check: checkPositiveDuration,
				Doc: "Timeout of one request attempt."},
			{Name: "max_retries", Type: sdk.TypeInt, Default: 5,
				Doc: "Retries of a failing request before the write fails (the worker then retries the task)."},
			{Name: "backoff", Type: sdk.TypeDuration, Default: "200ms", Check: checkPositiveDuration,
				Doc: "First retry delay; it doubles on each retry."},
			{Name: "max_backoff", Type: sdk.TypeDuration, Default: "30s", Check: checkPositiveDuration,
				Doc: "Longest retry delay, also the cap on a server's Retry-After."},
		},
	}
}

var templateFuncs = template.FuncMap{"pathEscape": url.PathEscape, "queryEscape": url.QueryEscape}

func checkTemplate(v any) error {
	_, err := template.New("url").Funcs(templateFuncs).Option("missingkey=error").Parse(v.(string))
	return err
}

// Sink is the http sink.
type Sink struct {
	log         *slog.Logger
	client      *nethttp.Client
	url         *template.Template
	needsFields bool
	method      string
	batch       bool
	batchMax    int
	contentType string
	headers     nethttp.Header
	idemHeader  string
	maxRetries  int
	backoff     time.Duration
	maxBackoff  time.Duration
}

// NewSink builds the sink from validated settings.
func NewSink(cfg sdk.Config, env sdk.Env) (*Sink, error) {
	raw := cfg.String("url")
	tmpl, err := template.New("url").Funcs(templateFuncs).Option("missingkey=error").Parse(raw)
	if err != nil {
		return nil, &sdk.ConfigError{Connector: "http", Errors: []sdk.FieldError{{Field: "url", Message: err.Error()}}}
	}
	s := &Sink{
		log:         env.Logger,
		client:      &nethttp.Client{Timeout: cfg.Duration("timeout")},
		url:         tmpl,
		needsFields: strings.Contains(raw, ".Fields"),
		method:      cfg.String("method"),
		batch:       cfg.String("mode") == "batch",
		batchMax:    int(cfg.Int("batch_max")),
		contentType: cfg.String("content_type"),
		headers:     nethttp.Header{},
		idemHeader:  cfg.String("idempotency_header"),
		maxRetries:  int(cfg.Int("max_retries")),
		backoff:     cfg.Duration("backoff"),
		maxBackoff:  cfg.Duration("max_backoff"),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// Secret headers must not follow a redirect to another host.
	s.client.CheckRedirect = func(req *nethttp.Request, via []*nethttp.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if req.URL.Host != via[0].URL.Host {
			return fmt.Errorf("redirect from %s to another host %s refused", via[0].URL.Host, req.URL.Host)
		}
		return nil
	}
	for k, v := range cfg.Map("headers") {
		s.headers.Set(k, v)
	}
	for k, v := range cfg.Map("secret_headers") {
		s.headers.Set(k, v)
	}
	return s, nil
}

// Open has nothing to connect: HTTP connections are made per request.
func (s *Sink) Open(context.Context) error { return nil }

// Flush has nothing to do: Write returns only once every request succeeded.
func (s *Sink) Flush(context.Context) error { return nil }

// Close releases idle connections.
func (s *Sink) Close(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}

// Write sends the records; rejected ones come back in an *sdk.BatchError.
func (s *Sink) Write(ctx context.Context, records []sdk.Record) error {
	var failed []sdk.RecordError
	for start := 0; start < len(records); {
		target, err := s.target(&records[start])
		if err != nil {
			failed = append(failed, sdk.RecordError{Index: start, Err: fmt.Errorf("%s: %w", records[start].Where(), err)})
			start++
			continue
		}
		end := start + 1
		if s.batch {
			end = s.batchEnd(records, start, target)
		}
		if err := s.send(ctx, target, records[start:end]); err != nil {
			var rej *rejectedError
			if !errors.As(err, &rej) {
				return err
			}
			for i := start; i < end; i++ {
				failed = append(failed, sdk.RecordError{Index: i, Err: fmt.Errorf("%s: %w", records[i].Where(), err)})
			}
		}
		start = end
	}
	if len(failed) > 0 {
		return &sdk.BatchError{Records: failed}
	}
	return nil
}

// batchEnd extends a batch over following records of the same partition and URL.
func (s *Sink) batchEnd(records []sdk.Record, start int, target string) int {
	end := start + 1
	for end < len(records) && end-start < s.batchMax {
		r := &records[end]
		if r.Topic != records[start].Topic || r.Partition != records[start].Partition {
			break
		}
		if t, err := s.target(r); err != nil || t != target {
			break
		}
		end++
	}
	return end
}

type urlData struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Fields    map[string]any
	Headers   map[string]string
}

func (s *Sink) target(r *sdk.Record) (string, error) {
	d := urlData{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key)}
	if s.needsFields {
		f, err := r.Structured()
		if err != nil {
			return "", err
		}
		d.Fields = f
	}
	if len(r.Headers) > 0 {
		d.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			d.Headers[h.Key] = h.Value
		}
	}
	var b strings.Builder
	if err := s.url.Execute(&b, d); err != nil {
		return "", fmt.Errorf("url template: %w", err)
	}
	u, err := url.Parse(b.String())
	if err != nil {
		return "", fmt.Errorf("url template gave an invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("url template gave %q: only http and https URLs with a host are allowed", u.Redacted())
	}
	return u.String(), nil
}

// rejectedError is a permanent 4xx answer: retrying cannot help.
type rejectedError struct {
	status int
	body   string
}

func (e *rejectedError) Error() string {
	if e.status == 0 {
		return e.body
	}
	return fmt.Sprintf("endpoint rejected the request with %d: %s", e.status, e.body)
}

func (s *Sink) body(records []sdk.Record) ([]byte, string, error) {
	if !s.batch {
		v, err := recordJSON(&records[0], false)
		return v, s.contentType, err
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range records {
		if i > 0 {
			buf.WriteByte(',')
		}
		v, err := recordJSON(&records[i], true)
		if err != nil {
			return nil, "", err
		}
		buf.Write(v)
	}
	buf.WriteByte(']')
	return buf.Bytes(), "application/json", nil
}

// recordJSON returns the record's bytes; in a JSON array a value that is not
// JSON is embedded as a string.
func recordJSON(r *sdk.Record, mustJSON bool) ([]byte, error) {
	v := r.Value
	if v == nil && r.Fields != nil {
		return json.Marshal(r.Fields)
	}
	if v == nil {
		return []byte("null"), nil
	}
	if mustJSON && !json.Valid(v) {
		return json.Marshal(string(v))
	}
	return v, nil
}

func (s *Sink) idempotencyKey(records []sdk.Record) string {
	first, last := records[0], records[len(records)-1]
	k := first.Topic + "/" + strconv.Itoa(int(first.Partition)) + "/" + strconv.FormatInt(first.Offset, 10)
	if len(records) > 1 {
		k += "-" + strconv.FormatInt(last.Offset, 10)
	}
	return k
}

// send delivers one request, retrying transient failures.
func (s *Sink) send(ctx context.Context, target string, records []sdk.Record) error {
	body, ctype, err := s.body(records)
	if err != nil {
		return &rejectedError{status: 0, body: err.Error()}
	}
	delay := s.backoff
	for attempt := 0; ; attempt++ {
		wait, err := s.attempt(ctx, target, body, ctype, records)
		if err == nil {
			return nil
		}
		var rej *rejectedError
		if errors.As(err, &rej) || ctx.Err() != nil {
			return err
		}
		if attempt >= s.maxRetries {
			return sdk.Retryable(fmt.Errorf("%s %s: giving up after %d attempts: %w", s.method, redact(target), attempt+1, err))
		}
		if wait <= 0 {
			wait = delay
		}
		wait = min(wait, s.maxBackoff)
		delay = min(delay*2, s.maxBackoff)
		s.log.Warn("http sink: retrying", "url", redact(target), "attempt", attempt+1, "wait", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// attempt makes one request; it returns the server's Retry-After when it sent one.
func (s *Sink) attempt(ctx context.Context, target string, body []byte, ctype string, records []sdk.Record) (time.Duration, error) {
	req, err := nethttp.NewRequestWithContext(ctx, s.method, target, bytes.NewReader(body))
	if err != nil {
		return 0, &rejectedError{body: err.Error()}
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", ctype)
	if s.idemHeader != "" {
		req.Header.Set(s.idemHeader, s.idempotencyKey(records))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == nethttp.StatusTooManyRequests || resp.StatusCode >= 500:
		return retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	default:
		return 0, &rejectedError{status: resp.StatusCode, body: string(bytes.TrimSpace(snippet))}
	}
}

// retryAfter parses seconds or an HTTP date; 0 when absent or invalid.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := nethttp.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// redact drops credentials and the query string (often an API key) from logs.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(invalid url)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
