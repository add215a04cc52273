package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSRFHeader carries the console's anti-forgery token on every request the
// console's own script sends. A page of another site can neither read the
// token nor set a custom header without a CORS preflight, which the API
// never grants.
const CSRFHeader = "X-Braid-CSRF"

// Options configures a Console.
type Options struct {
	// Version is shown in the footer.
	Version string
	// Login is true when the API has a token: the console then shows a
	// log-out button (the login form itself is served either way).
	Login bool
}

// Console is the web console: an http.Handler for /ui/ that reads and
// changes everything through api, the REST API's handler (without its
// middleware: the request reaching the console already passed it).
type Console struct {
	api   http.Handler
	opts  Options
	csrf  string
	pages map[string]*template.Template
	mux   *http.ServeMux
	rates *rates

	graphMu sync.Mutex // one overview graph at a time, cached for graphTTL
	graph   graph
	graphAt time.Time
}

// New returns the console for api.
func New(api http.Handler, opts Options) *Console {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c := &Console{api: api, opts: opts, csrf: hex.EncodeToString(key), mux: http.NewServeMux(), rates: newRates()}
	c.parse()
	c.routes()
	return c
}

func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	m.HandleFunc("GET /ui/static/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no listings
			http.NotFound(w, r)
			return
		}
		// Embedded files carry no modification time to revalidate with;
		// a short lifetime lets an upgraded binary's files in soon.
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /ui/login", c.loginPage)
	m.HandleFunc("GET /ui/{$}", c.overview)
	m.HandleFunc("GET /ui/overview/graph", c.overviewGraph)
	m.HandleFunc("GET /ui/connectors", c.connectors)
	m.HandleFunc("GET /ui/connectors/{name}", c.connector)
	m.HandleFunc("GET /ui/connectors/{name}/status", c.connectorStatus)
	m.HandleFunc("POST /ui/connectors/{name}/action", c.connectorAction)
	m.HandleFunc("GET /ui/topics", c.topics)
	m.HandleFunc("GET /ui/topics/{name}", c.topic)
	m.HandleFunc("GET /ui/topics/{name}/records", c.records)
	m.HandleFunc("GET /ui/dlq", c.deadLetterTopics)
	m.HandleFunc("GET /ui/dlq/{name}", c.deadLetters)
	m.HandleFunc("POST /ui/dlq/{name}/replay", c.replay)
	m.HandleFunc("GET /ui/pipelines", c.pipelines)
	m.HandleFunc("POST /ui/pipelines", c.applyPipeline)
	m.HandleFunc("GET /ui/schemas", c.schemas)
	m.HandleFunc("GET /ui/schemas/{subject}", c.subject)
	m.HandleFunc("GET /ui/schemas/{subject}/diff", c.schemaDiff)
	m.HandleFunc("POST /ui/schemas/{subject}/check", c.schemaCheck)
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.page(w, r, http.StatusNotFound, "error", "Not found", errorPage{Message: "There is no console page at " + r.URL.Path + "."})
	})
}

// ServeHTTP sets the console's security headers and serves the page.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Only the console's own files: no inline script or style, no eval, no
	// framing (clickjacking of the action buttons), no foreign form targets.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if r.Method == http.MethodPost && !c.validCSRF(r) {
		http.Error(w, "missing or wrong "+CSRFHeader+" header: console actions must come from the console's own pages", http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) validCSRF(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(c.csrf)) == 1
}

// apiError is an API answer other than 2xx.
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	Body    []byte `json:"-"` // the whole answer (a lint list, say)
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// recorder collects the API's answer to an in-process request.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// call sends one request with a JSON body (nil: none) to the API
// in-process and returns the answer's body; a status of 300 or more is an
// *apiError.
func (c *Console) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	if body == nil {
		return c.send(ctx, method, path, "", nil)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, method, path, "application/json", data)
}

// send is call with a body of any type.
func (c *Console) send(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := &recorder{header: http.Header{}}
	c.api.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if rec.code >= 300 {
		e := &apiError{Code: rec.code, Body: rec.body.Bytes()}
		if json.Unmarshal(rec.body.Bytes(), e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(rec.body.String())
		}
		e.Code = rec.code
		return nil, e
	}
	return rec.body.Bytes(), nil
}

// get reads an API route into out.
func (c *Console) get(ctx context.Context, path string, out any) error {
	data, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(out)
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

// view is what every full page gets.
type view struct {
	Title   string
	Nav     string
	CSRF    string
	Login   bool
	Version string
	Data    any
}

// navOf names the section a detail page belongs to.
var navOf = map[string]string{"connector": "connectors", "topic": "topics", "dlq-topic": "dlq", "schema": "schemas"}

// page renders a full page: the layout around tmpl's "content".
func (c *Console) page(w http.ResponseWriter, _ *http.Request, code int, tmpl, title string, data any) {
	nav := tmpl
	if n, ok := navOf[tmpl]; ok {
		nav = n
	}
	c.render(w, code, tmpl, "layout", view{Title: title, Nav: nav, CSRF: c.csrf, Login: c.opts.Login, Version: c.opts.Version, Data: data})
}

// fragment renders one named block of tmpl (an htmx swap).
func (c *Console) fragment(w http.ResponseWriter, tmpl, name string, data any) {
	c.render(w, http.StatusOK, tmpl, name, data)
}

func (c *Console) render(w http.ResponseWriter, code int, tmpl, name string, data any) {
	t := c.pages[tmpl]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "console template "+tmpl+"/"+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is a page that could not be built.
type errorPage struct{ Message string }

// fail shows an API error as the page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	if e, ok := err.(*apiError); ok {
		code = e.Code
	}
	c.page(w, r, code, "error", "Error", errorPage{Message: err.Error()})
}

func (c *Console) parse() {
	files, _ := fs.Glob(templateFS, "templates/*.html")
	base := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	c.pages = map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		c.pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, f))
	}
}

// rates turns counters read at each refresh into per-second rates.
type rates struct {
	mu   sync.Mutex
	last map[string]sample
}

type sample struct {
	value int64
	at    time.Time
	rate  float64
	known bool
}

func newRates() *rates { return &rates{last: map[string]sample{}} }

// observe records counter key's value now and returns its rate over the
// last interval of at least a second (known is false until then).
func (r *rates) observe(key string, value int64, now time.Time) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.last[key]
	if !ok {
		r.last[key] = sample{value: value, at: now}
		return 0, false
	}
	if dt := now.Sub(s.at).Seconds(); dt >= 1 {
		d := value - s.value
		if d < 0 { // reset offsets, recreated topic
			d = 0
		}
		s = sample{value: value, at: now, rate: float64(d) / dt, known: true}
		r.last[key] = s
	}
	if len(r.last) > 10000 { // bounded: forget everything rather than grow
		r.last = map[string]sample{}
	}
	return s.rate, s.known
}
