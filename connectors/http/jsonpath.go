package http

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// lookup walks a dotted path ("data.items", "items.0.id") through decoded JSON.
// An empty path returns v itself.
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[part]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// scalarString renders a JSON scalar found by lookup as a key or cursor.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "", false
	}
	return "", false
}

// checkPath validates a dotted path setting.
func checkPath(v any) error {
	s, _ := v.(string)
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return fmt.Errorf("path %q has an empty segment", s)
		}
	}
	return nil
}
