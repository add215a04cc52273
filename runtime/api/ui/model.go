package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"strings"
	"unicode/utf8"
)

// The shapes below are the REST API's JSON (docs/api.md), declared here so
// that the console depends on the API's contract and nothing else.

type taskStatus struct {
	ID       int                `json:"id"`
	State    string             `json:"state"`
	WorkerID string             `json:"worker_id"`
	Trace    string             `json:"trace"`
	Gauges   map[string]float64 `json:"gauges"`
}

type progress struct {
	Phase  string          `json:"phase"`
	Done   int64           `json:"done"`
	Total  int64           `json:"total"`
	Tables []tableProgress `json:"tables"`
}

// tableProgress is one table of an incremental snapshot.
type tableProgress struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

type connectorStatus struct {
	Name      string       `json:"name"`
	Type      string       `json:"type"`
	Connector taskStatus   `json:"connector"`
	Tasks     []taskStatus `json:"tasks"`
	Progress  *progress    `json:"progress"`
}

type connectorInfo struct {
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Config map[string]any `json:"config"`
}

type expanded struct {
	Status connectorStatus `json:"status"`
	Info   connectorInfo   `json:"info"`
}

type partitionInfo struct {
	Partition   int32 `json:"partition"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	EndOffset   int64 `json:"end_offset"`
	Messages    int64 `json:"messages"`
}

type topicInfo struct {
	Name       string          `json:"name"`
	Config     map[string]any  `json:"config"`
	Bytes      uint64          `json:"bytes"`
	Partitions []partitionInfo `json:"partition_info"`
	Groups     []groupLag      `json:"groups"`
}

type groupLag struct {
	Group     string           `json:"group"`
	Committed map[string]int64 `json:"committed"`
	Lag       map[string]int64 `json:"lag"`
	TotalLag  int64            `json:"total_lag"`
}

// records counts the records a topic holds now.
func (t topicInfo) records() int64 {
	var n int64
	for _, p := range t.Partitions {
		if p.FirstOffset >= 0 {
			n += p.EndOffset - p.FirstOffset
		}
	}
	return n
}

// end sums the partitions' end offsets: records ever appended.
func (t topicInfo) end() int64 {
	var n int64
	for _, p := range t.Partitions {
		n += p.EndOffset
	}
	return n
}

type browsed struct {
	Partition     int32             `json:"partition"`
	Offset        int64             `json:"offset"`
	Timestamp     string            `json:"timestamp"`
	Key           string            `json:"key"`
	KeyEncoding   string            `json:"key_encoding"`
	Value         *string           `json:"value"`
	ValueEncoding string            `json:"value_encoding"`
	Headers       map[string]string `json:"headers"`
	KeyDecoded    json.RawMessage   `json:"key_decoded"`
	KeySchema     *schemaRef        `json:"key_schema"`
	ValueDecoded  json.RawMessage   `json:"value_decoded"`
	ValueSchema   *schemaRef        `json:"value_schema"`
	DecodeError   string            `json:"decode_error"`
}

type schemaRef struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func (s *schemaRef) String() string {
	if s.Subject == "" {
		return fmt.Sprintf("schema id %d", s.ID)
	}
	return fmt.Sprintf("schema %s version %d (id %d)", s.Subject, s.Version, s.ID)
}

type browsePage struct {
	Topic      string    `json:"topic"`
	Partition  int32     `json:"partition"`
	Records    []browsed `json:"records"`
	NextOffset int64     `json:"next_offset"`
}

// connectorsExpanded reads every connector with its status and info.
func (c *Console) connectorsExpanded(ctx context.Context) ([]expanded, error) {
	m := map[string]expanded{}
	if err := c.get(ctx, "/connectors?expand=status&expand=info", &m); err != nil {
		return nil, err
	}
	out := make([]expanded, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.Name < out[j].Info.Name })
	return out, nil
}

// cfg returns a flat config value as text.
func cfg(config map[string]any, key string) string {
	switch v := config[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v)
	}
}

// topicsOf lists a connector's topics: a source's one, a sink's several.
func topicsOf(config map[string]any) []string {
	var out []string
	for _, t := range strings.Split(cfg(config, "topic")+","+cfg(config, "topics"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// dlqOf is a connector's dead-letter topic, "" when it has none.
func dlqOf(config map[string]any) string {
	if cfg(config, "errors.tolerance") != "all" {
		return ""
	}
	return cfg(config, "errors.deadletterqueue.topic.name")
}

var funcs = template.FuncMap{
	"state": stateClass,
	"trim":  trimTrace,
	"pct":   percent,
	"rate":  formatRate,
	"bytes": formatBytes,
	"add":   func(a, b int) int { return a + b },
	"esc":   esc,
	"short": shorten,
}

// stateClass is the CSS class of a connector or task state.
func stateClass(s string) string { return "state-" + strings.ToLower(s) }

// percent is done's share of total, 0 to 100.
func percent(done, total int64) int64 {
	if total <= 0 {
		return 0
	}
	return max(0, min(100, done*100/total))
}

func formatRate(r float64) string {
	switch {
	case r >= 1000:
		return fmt.Sprintf("%.1fk/s", r/1000)
	case r >= 10 || r == 0:
		return fmt.Sprintf("%.0f/s", r)
	}
	return fmt.Sprintf("%.1f/s", r)
}

func formatBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// trimTrace keeps an error's first lines: a stack is for the log.
func trimTrace(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 4 {
		lines = append(lines[:4], fmt.Sprintf("… (%d more lines)", len(lines)-4))
	}
	return shorten(strings.Join(lines, "\n"), 1200)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
