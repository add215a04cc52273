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
	"regexp"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// PollPlugin returns the http-poll source connector.
func PollPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: pollSpec(), NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return NewPoll(cfg, env)
	}}
}

func pollSpec() sdk.Spec {
	return sdk.Spec{
		Name:    "http-poll",
		Kind:    sdk.KindSource,
		Summary: "Polls an HTTP JSON endpoint at an interval, following pagination, and resumes where it stopped.",
		Doc: "Each response is decoded as JSON; the value at `records_path` becomes the records (one per element " +
			"of an array, or one for an object). With `pagination: cursor` the next page is the same URL with " +
			"`cursor_param` set to the value at `cursor_path`; with `pagination: link` it is the `rel=\"next\"` URL " +
			"of the Link header (RFC 5988). Pages are fetched back to back; when no next page is left the source " +
			"waits `interval` and starts again (`on_end`). Each record's position is its page URL and its index there " +
			"(the last record of a page points at the next page), so a restart resumes right after the last stored record. Next-page URLs must stay on the host of `url` (the auth header is never sent elsewhere).",
		Fields: []sdk.Field{
			{Name: "url", Type: sdk.TypeString, Required: true, Check: checkHTTPURL,
				Doc: "First page to fetch (http or https).", Example: "https://api.example.com/v1/events?limit=100"},
			{Name: "interval", Type: sdk.TypeDuration, Default: "1m", Check: checkPositiveDuration,
				Doc: "Wait between passes, once no next page is left."},
			{Name: "headers", Type: sdk.TypeMap, Doc: "Extra request headers.", Example: "{Accept: application/json}"},
			{Name: "auth_header", Type: sdk.TypeString, Secret: true,
				Doc: "Value of the Authorization header.", Example: "Bearer ${API_TOKEN}"},
			{Name: "records_path", Type: sdk.TypeString, Check: checkPath,
				Doc: "Dotted path to the records in the response; empty takes the whole body.", Example: "data.items"},
			{Name: "pagination", Type: sdk.TypeString, Default: "none", Enum: []string{"none", "cursor", "link"},
				Doc: "How to find the next page."},
			{Name: "cursor_path", Type: sdk.TypeString, Check: checkPath,
				Doc: "Dotted path to the next cursor in the response (pagination: cursor).", Example: "meta.next_cursor"},
			{Name: "cursor_param", Type: sdk.TypeString, Default: "cursor",
				Doc: "Query parameter that carries the cursor (pagination: cursor)."},
			{Name: "on_end", Type: sdk.TypeString, Default: "restart", Enum: []string{"restart", "repeat"},
				Doc: "After the last page: `restart` polls `url` again (a full listing), `repeat` polls the last page again (a feed whose last page grows; its records may repeat)."},
			{Name: "key_field", Type: sdk.TypeString, Check: checkPath,
				Doc: "Dotted path of the field whose value becomes the record key.", Example: "id"},
			{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Check: checkPositiveDuration,
				Doc: "Timeout of one request."},
			{Name: "max_body", Type: sdk.TypeInt, Default: 64 << 20, Min: 1,
				Doc: "Largest response accepted, in bytes."},
		},
		Check: checkPoll,
	}
}

func checkPoll(cfg sdk.Config) []sdk.FieldError {
	if cfg.String("pagination") == "cursor" && cfg.String("cursor_path") == "" {
		return []sdk.FieldError{{Field: "cursor_path", Message: "required with pagination: cursor"}}
	}
	return nil
}

func checkHTTPURL(v any) error {
	u, err := url.Parse(v.(string))
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http or https URL with a host")
	}
	return nil
}

// Poll is the http-poll source.
type Poll struct {
	log                     *slog.Logger
	client                  *nethttp.Client
	base                    *url.URL
	headers                 nethttp.Header
	recordsPath, keyField   string
	pagination, cursorParam string
	cursorPath              string
	repeat                  bool
	interval                time.Duration
	maxBody                 int64

	next     string    // URL of the next fetch; "" means base
	skip     int       // records of that page delivered before a restart
	notUntil time.Time // next pass starts no earlier than this
}

// pollPosition is a record's place: the page to fetch next and how many of
// its records were already delivered. The last record of a page points at
// the next page.
type pollPosition struct {
	URL  string `json:"url"`
	Skip int    `json:"skip,omitempty"`
}

// NewPoll builds the source from validated settings.
func NewPoll(cfg sdk.Config, env sdk.Env) (*Poll, error) {
	base, _ := url.Parse(cfg.String("url"))
	p := &Poll{
		log:         env.Logger,
		client:      &nethttp.Client{Timeout: cfg.Duration("timeout")},
		base:        base,
		headers:     nethttp.Header{},
		recordsPath: cfg.String("records_path"),
		keyField:    cfg.String("key_field"),
		pagination:  cfg.String("pagination"),
		cursorPath:  cfg.String("cursor_path"),
		cursorParam: cfg.String("cursor_param"),
		repeat:      cfg.String("on_end") == "repeat",
		interval:    cfg.Duration("interval"),
		maxBody:     cfg.Int("max_body"),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for k, v := range cfg.Map("headers") {
		p.headers.Set(k, v)
	}
	if a := cfg.String("auth_header"); a != "" {
		p.headers.Set("Authorization", a)
	}
	// Redirects must not carry the auth header to another host either.
	p.client.CheckRedirect = func(req *nethttp.Request, via []*nethttp.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if req.URL.Host != p.base.Host {
			return fmt.Errorf("redirect to another host %q refused", req.URL.Host)
		}
		return nil
	}
	return p, nil
}

// Open resumes at the stored position.
func (p *Poll) Open(_ context.Context, pos sdk.Position) error {
	if len(pos) == 0 {
		return nil
	}
	var sp pollPosition
	if err := json.Unmarshal(pos, &sp); err != nil {
		return sdk.Fatal(fmt.Errorf("http-poll: stored position %q is not valid: %w", pos, err))
	}
	if sp.URL != "" {
		if _, err := p.sameHost(sp.URL); err != nil {
			return sdk.Fatal(fmt.Errorf("http-poll: stored position: %w", err))
		}
	}
	p.next, p.skip = sp.URL, max(sp.Skip, 0)
	return nil
}

// Ack has nothing to do: the worker stores the position.
func (p *Poll) Ack(context.Context, sdk.Position) error { return nil }

// Close releases idle connections.
func (p *Poll) Close(context.Context) error {
	p.client.CloseIdleConnections()
	return nil
}

// Read fetches pages until one has records, waiting between passes.
func (p *Poll) Read(ctx context.Context) ([]sdk.Record, error) {
	for {
		if wait := time.Until(p.notUntil); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		current := p.next
		if current == "" {
			current = p.base.String()
		}
		values, next, err := p.fetch(ctx, current)
		if err != nil {
			return nil, err
		}
		if next == "" || next == current {
			p.notUntil = time.Now().Add(p.interval)
			next = ""
			if p.repeat {
				next = current
			}
		}
		p.next = next
		skip := min(p.skip, len(values))
		p.skip = 0
		if len(values) == skip {
			continue
		}
		return p.records(values, skip, current, next)
	}
}

func (p *Poll) records(page []any, skip int, current, next string) ([]sdk.Record, error) {
	now := time.Now()
	out := make([]sdk.Record, 0, len(page)-skip)
	for i := skip; i < len(page); i++ {
		v := page[i]
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("http-poll: encode record %d of %s: %w", i, redact(current), err)
		}
		pos := pollPosition{URL: current, Skip: i + 1}
		if i == len(page)-1 {
			pos = pollPosition{URL: next}
		}
		pb, _ := json.Marshal(pos)
		rec := sdk.Record{Value: b, Timestamp: now, Position: pb}
		if p.keyField != "" {
			if k, ok := lookup(v, p.keyField); ok {
				if s, ok := scalarString(k); ok {
					rec.Key = []byte(s)
				}
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// fetch gets one page: its records and the URL of the next page ("" if none).
func (p *Poll) fetch(ctx context.Context, target string) ([]any, string, error) {
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, target, nil)
	if err != nil {
		return nil, "", sdk.Fatal(fmt.Errorf("http-poll: %w", err))
	}
	for k, v := range p.headers {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, "", sdk.Retryable(fmt.Errorf("http-poll: GET %s: %w", redact(target), err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if err != nil {
		return nil, "", sdk.Retryable(fmt.Errorf("http-poll: GET %s: reading body: %w", redact(target), err))
	}
	if err := statusError(resp, target, body); err != nil {
		return nil, "", err
	}
	if int64(len(body)) > p.maxBody {
		return nil, "", sdk.Fatal(fmt.Errorf("http-poll: GET %s: response larger than max_body (%d bytes)", redact(target), p.maxBody))
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, "", sdk.Retryable(fmt.Errorf("http-poll: GET %s: response is not JSON: %w", redact(target), err))
	}
	var values []any
	if found, ok := lookup(doc, p.recordsPath); ok && found != nil {
		if arr, isArr := found.([]any); isArr {
			values = arr
		} else {
			values = []any{found}
		}
	}
	next, err := p.nextURL(doc, resp, target)
	return values, next, err
}

func statusError(resp *nethttp.Response, target string, body []byte) error {
	code := resp.StatusCode
	if code < 300 {
		return nil
	}
	snippet := string(bytes.TrimSpace(body[:min(len(body), 256)]))
	err := fmt.Errorf("http-poll: GET %s: status %d: %s", redact(target), code, snippet)
	switch {
	case code == nethttp.StatusTooManyRequests || code == nethttp.StatusServiceUnavailable:
		wait := retryAfter(resp.Header.Get("Retry-After"))
		if wait <= 0 {
			wait = time.Second
		}
		return &sdk.BackoffError{Wait: wait, Err: err}
	case code >= 500 || code == nethttp.StatusRequestTimeout:
		return sdk.Retryable(err)
	default:
		return sdk.Fatal(err)
	}
}

func (p *Poll) nextURL(doc any, resp *nethttp.Response, current string) (string, error) {
	switch p.pagination {
	case "cursor":
		c, ok := lookup(doc, p.cursorPath)
		if !ok {
			return "", nil
		}
		cursor, ok := scalarString(c)
		if !ok || cursor == "" {
			return "", nil
		}
		u, _ := url.Parse(current)
		q := u.Query()
		q.Set(p.cursorParam, cursor)
		u.RawQuery = q.Encode()
		return u.String(), nil
	case "link":
		ref := linkNext(resp.Header.Values("Link"))
		if ref == "" {
			return "", nil
		}
		cur, _ := url.Parse(current)
		u, err := cur.Parse(ref)
		if err != nil {
			return "", sdk.Fatal(fmt.Errorf("http-poll: Link header next URL %q: %w", ref, err))
		}
		return p.sameHost(u.String())
	}
	return "", nil
}

// sameHost confines next-page URLs to the configured host and scheme.
func (p *Poll) sameHost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != p.base.Scheme || u.Host != p.base.Host {
		return "", sdk.Fatal(fmt.Errorf("next page URL %s leaves %s://%s; refused", redact(raw), p.base.Scheme, p.base.Host))
	}
	return u.String(), nil
}

var linkRe = regexp.MustCompile(`<([^>]*)>([^<]*)`)
var relRe = regexp.MustCompile(`(?i)\brel\s*=\s*("[^"]*"|[^;,\s]+)`)

// linkNext returns the target of rel="next" in RFC 5988 Link headers.
func linkNext(values []string) string {
	for _, v := range values {
		for _, m := range linkRe.FindAllStringSubmatch(v, -1) {
			rel := relRe.FindStringSubmatch(m[2])
			if rel == nil {
				continue
			}
			for _, r := range strings.Fields(strings.Trim(rel[1], `"`)) {
				if strings.EqualFold(r, "next") {
					return strings.TrimSpace(m[1])
				}
			}
		}
	}
	return ""
}
