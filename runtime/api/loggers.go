package api

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// RootLogger names the level of every record without a more specific one.
const RootLogger = "root"

// Levels holds the log levels /admin/loggers changes: the root level and
// one per connector (records carrying connector=<name>).
type Levels struct {
	mu      sync.RWMutex
	root    slog.LevelVar
	byConn  map[string]*slog.LevelVar
	secrets atomic.Pointer[[]string] // longest first
}

// AddSecrets makes the handler replace each value with sdk.Hidden in
// messages and string attributes, so a connector error that quotes its
// password does not reach the log. Values stay registered: scrubbing an old
// secret costs little, leaking it costs much. The handler never calls back
// into the worker, so logging under its locks cannot deadlock.
func (l *Levels) AddSecrets(values ...string) {
	for {
		old := l.secrets.Load()
		set := map[string]bool{}
		if old != nil {
			for _, v := range *old {
				set[v] = true
			}
		}
		n := len(set)
		for _, v := range values {
			if len(v) >= minSecretLen {
				set[v] = true
			}
		}
		if len(set) == n {
			return
		}
		list := make([]string, 0, len(set))
		for v := range set {
			list = append(list, v)
		}
		sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
		if l.secrets.CompareAndSwap(old, &list) {
			return
		}
	}
}

func (l *Levels) secretList() []string {
	if p := l.secrets.Load(); p != nil {
		return *p
	}
	return nil
}

// NewLevels starts with the root level.
func NewLevels(root slog.Level) *Levels {
	l := &Levels{byConn: map[string]*slog.LevelVar{}}
	l.root.Set(root)
	return l
}

// Level returns a logger's level; an unset connector logger inherits root.
func (l *Levels) Level(name string) slog.Level {
	if name == RootLogger || name == "" {
		return l.root.Level()
	}
	l.mu.RLock()
	v := l.byConn[name]
	l.mu.RUnlock()
	if v == nil {
		return l.root.Level()
	}
	return v.Level()
}

// Set changes a logger's level.
func (l *Levels) Set(name string, level slog.Level) {
	if name == RootLogger || name == "" {
		l.root.Set(level)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.byConn[name]
	if v == nil {
		v = new(slog.LevelVar)
		l.byConn[name] = v
	}
	v.Set(level)
}

// All returns every logger with an explicit level.
func (l *Levels) All() map[string]slog.Level {
	out := map[string]slog.Level{RootLogger: l.root.Level()}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for n, v := range l.byConn {
		out[n] = v.Level()
	}
	return out
}

// Handler wraps h so that Levels decides which records pass. h must not
// filter more strictly itself (a slog.TextHandler's level is only consulted
// through Enabled, which this handler answers instead).
func (l *Levels) Handler(h slog.Handler) slog.Handler { return &levelHandler{levels: l, next: h} }

// Leveled wraps logger's handler with levels starting at the lowest level
// the handler already emits.
func Leveled(logger *slog.Logger) (*slog.Logger, *Levels) {
	h := logger.Handler()
	level := slog.LevelError
	for _, lv := range []slog.Level{slog.LevelWarn, slog.LevelInfo, slog.LevelDebug} {
		if h.Enabled(context.Background(), lv) {
			level = lv
		}
	}
	levels := NewLevels(level)
	return slog.New(levels.Handler(h)), levels
}

type levelHandler struct {
	levels    *Levels
	next      slog.Handler
	connector string
}

func (h *levelHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.levels.Level(h.connector)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.connector == "" {
		// A connector key on the record itself (not via With) counts too.
		var conn string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "connector" {
				conn = a.Value.String()
				return false
			}
			return true
		})
		if conn != "" && r.Level < h.levels.Level(conn) {
			return nil
		}
	}
	if secrets := h.levels.secretList(); len(secrets) > 0 {
		r = scrubRecord(r, secrets)
	}
	return h.next.Handle(ctx, r)
}

func scrubRecord(r slog.Record, secrets []string) slog.Record {
	out := slog.NewRecord(r.Time, r.Level, scrub(r.Message, secrets), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a, secrets))
		return true
	})
	return out
}

func scrubAttr(a slog.Attr, secrets []string) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, scrub(v.String(), secrets))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, x := range attrs {
			out[i] = scrubAttr(x, secrets)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, scrub(err.Error(), secrets))
		}
		return slog.String(a.Key, scrub(v.String(), secrets))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	if secrets := h.levels.secretList(); len(secrets) > 0 {
		scrubbed := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			scrubbed[i] = scrubAttr(a, secrets)
		}
		attrs = scrubbed
	}
	c.next = h.next.WithAttrs(attrs)
	for _, a := range attrs {
		if a.Key == "connector" {
			c.connector = a.Value.String()
		}
	}
	return &c
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

func (s *Server) loggerRoutes() {
	s.mux.HandleFunc("GET /admin/loggers", s.listLoggers)
	s.mux.HandleFunc("GET /admin/loggers/{name}", s.getLogger)
	s.mux.HandleFunc("PUT /admin/loggers/{name}", s.putLogger)
}

// loggerLevel is Kafka Connect's {"level": "INFO"}.
type loggerLevel struct {
	Level string `json:"level"`
}

func levelName(l slog.Level) string { return strings.ToUpper(l.String()) }

func (s *Server) listLoggers(w http.ResponseWriter, _ *http.Request) {
	out := map[string]loggerLevel{}
	for n, l := range s.opts.Levels.All() {
		out[n] = loggerLevel{levelName(l)}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getLogger(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, loggerLevel{levelName(s.opts.Levels.Level(r.PathValue("name")))})
}

func (s *Server) putLogger(w http.ResponseWriter, r *http.Request) {
	var body loggerLevel
	if !readJSON(w, r, &body) {
		return
	}
	var level slog.Level
	text := strings.ToUpper(strings.TrimSpace(body.Level))
	switch text { // Kafka Connect's log4j names
	case "TRACE":
		text = "DEBUG"
	case "WARNING":
		text = "WARN"
	case "FATAL":
		text = "ERROR"
	}
	if err := level.UnmarshalText([]byte(text)); err != nil {
		writeError(w, http.StatusBadRequest, "level: %q is not one of DEBUG, INFO, WARN, ERROR", body.Level)
		return
	}
	name := r.PathValue("name")
	s.opts.Levels.Set(name, level)
	s.logger.Info("log level changed through the API", "logger", name, "level", levelName(level))
	names := []string{name}
	sort.Strings(names)
	writeJSON(w, http.StatusOK, names)
}
