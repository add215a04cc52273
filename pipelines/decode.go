package pipelines

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// The helpers below read one typed value from a node, lint what is wrong
// (naming the key path, e.g. topics.orders.partitions) and report whether the
// value is usable. A nil or null node is "not given": ok=false, no lint.

// isMap lints n unless it is a map.
func (p *parser_) isMap(n *node, path string) bool {
	if n == nil || n.kind == kindNull {
		return false
	}
	if n.kind != kindMap {
		p.lint(n, "%s: must be a map, not %s", path, n.show())
		return false
	}
	return true
}

// checkKeys lints every key of map n that is not in allowed, with a hint.
func (p *parser_) checkKeys(n *node, path string, allowed []string) {
	for _, k := range n.keys {
		name := k.str()
		if contains(allowed, name) || (path == "" && strings.HasPrefix(name, "x-")) {
			continue
		}
		where := "here"
		if path != "" {
			where = "in " + path
		}
		msg := fmt.Sprintf("unknown key %q %s", name, where)
		if hint := sdk.Suggest(name, allowed); hint != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", hint)
		} else {
			msg += fmt.Sprintf(" (expected one of: %s)", strings.Join(allowed, ", "))
		}
		p.lint(k, "%s", msg)
	}
}

func given(n *node) bool { return n != nil && n.kind != kindNull }

// str reads a string; other scalars are taken as written (group: 42).
func (p *parser_) str(n *node, path string) (string, bool) {
	if !given(n) {
		return "", false
	}
	if n.kind != kindScalar {
		p.lint(n, "%s: must be a string, not %s", path, n.show())
		return "", false
	}
	if s, ok := n.val.(string); ok {
		return s, true
	}
	return n.text, true
}

// integer reads a whole number in [lo, hi]. A string is accepted only when it
// came from ${...}, since the environment has no types.
func (p *parser_) integer(n *node, path string, lo, hi int64) (int64, bool) {
	if !given(n) {
		return 0, false
	}
	var v int64
	ok := false
	switch x := n.val.(type) {
	case int64:
		v, ok = x, true
	case uint64:
		v, ok = int64(min(x, math.MaxInt64)), true
	case string:
		if n.interp {
			i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			v, ok = i, err == nil
		}
	}
	if n.kind != kindScalar || !ok {
		p.lint(n, "%s: must be a whole number, not %s", path, n.show())
		return 0, false
	}
	if v < lo || v > hi {
		p.lint(n, "%s: must be between %d and %d, not %s", path, lo, hi, n.show())
		return 0, false
	}
	return v, true
}

// boolean reads true or false.
func (p *parser_) boolean(n *node, path string) (bool, bool) {
	if !given(n) {
		return false, false
	}
	switch x := n.val.(type) {
	case bool:
		return x, true
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil && n.interp {
			return b, true
		}
	}
	p.lint(n, "%s: must be true or false, not %s", path, n.show())
	return false, false
}

// duration reads a Go duration: 500ms, 30s, 168h.
func (p *parser_) duration(n *node, path string) (time.Duration, bool) {
	if !given(n) {
		return 0, false
	}
	switch x := n.val.(type) {
	case int64:
		if x == 0 {
			return 0, true
		}
	case string:
		s := strings.TrimSpace(x)
		d, err := time.ParseDuration(s)
		if err == nil && d >= 0 {
			return d, true
		}
		if err == nil {
			p.lint(n, "%s: must not be negative", path)
			return 0, false
		}
		if days, ok := strings.CutSuffix(s, "d"); ok {
			if nd, err := strconv.Atoi(days); err == nil && nd >= 0 {
				p.lint(n, "%s: days are not a duration unit; write %dh", path, nd*24)
				return 0, false
			}
		}
	}
	p.lint(n, "%s: must be a duration like 30s, 15m or 168h, not %s", path, n.show())
	return 0, false
}

// size reads a byte count: 1048576, 512MB, 1GiB.
func (p *parser_) size(n *node, path string) (int64, bool) {
	if !given(n) {
		return 0, false
	}
	switch x := n.val.(type) {
	case int64:
		if x >= 0 {
			return x, true
		}
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case string:
		if v, ok := parseSize(x); ok {
			return v, true
		}
	}
	p.lint(n, "%s: must be a size in bytes like 1048576, 512MB or 1GiB, not %s", path, n.show())
	return 0, false
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseSize reads a size such as 128MiB, 1.5GB or 4096 (bytes): the units
// of size settings in pipeline files.
func ParseSize(s string) (int64, error) {
	n, ok := parseSize(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a size (e.g. 256MiB, 1GiB, 500MB)", s)
	}
	return n, nil
}

func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*float64(mult) > math.MaxInt64/2 {
		return 0, false
	}
	return int64(f * float64(mult)), true
}

// enum reads one of a fixed set of words.
func (p *parser_) enum(n *node, path string, options []string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if contains(options, s) {
		return s, true
	}
	msg := fmt.Sprintf("%s: must be one of %s, not %s", path, strings.Join(options, ", "), n.show())
	if hint := sdk.Suggest(s, options); hint != "" && !n.interp {
		msg += fmt.Sprintf(" (did you mean %q?)", hint)
	}
	p.lint(n, "%s", msg)
	return "", false
}

// name reads a topic, connector or pipeline name with the one name rule
// (sdk.ValidName), which every NATS subject, stream and KV key accepts.
func (p *parser_) name(n *node, path, what string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if !sdk.ValidName(s) {
		p.lint(n, "%s: %s %s must be %s", path, what, n.show(), sdk.NameRule)
		return "", false
	}
	return s, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// value turns a node into the plain Go value connector settings are
// validated from: map[string]any, []any, string, int64, uint64, float64,
// bool or nil.
func value(n *node) any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case kindMap:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k.str()] = value(n.vals[i])
		}
		return m
	case kindSeq:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = value(it)
		}
		return l
	case kindScalar:
		return n.val
	}
	return nil
}

// suggest returns " (did you mean "x"?)" for a likely typo of one of
// candidates, or "".
func suggest(name string, candidates []string) string {
	if hint := sdk.Suggest(name, candidates); hint != "" {
		return fmt.Sprintf(" (did you mean %q?)", hint)
	}
	return ""
}
