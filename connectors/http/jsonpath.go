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

// splitArray returns the elements of a JSON array as slices of body, without
// copying or decoding them. It validates the whole body first, so the scan
// below can trust the syntax.
func splitArray(body []byte) ([][]byte, error) {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v) // for its precise message
		return nil, fmt.Errorf("body is not a valid JSON array: %v", err)
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '[' {
		return nil, fmt.Errorf("body is not a JSON array")
	}
	var out [][]byte
	i = skipSpace(body, i+1)
	if body[i] == ']' {
		return out, nil
	}
	for {
		start := i
		depth, inStr := 0, false
	scan:
		for ; i < len(body); i++ {
			c := body[i]
			switch {
			case inStr:
				if c == '\\' {
					i++
				} else if c == '"' {
					inStr = false
				}
			case c == '"':
				inStr = true
			case c == '[' || c == '{':
				depth++
			case c == ']' || c == '}':
				if depth == 0 {
					break scan
				}
				depth--
			case c == ',' && depth == 0:
				break scan
			}
		}
		end := i
		for end > start && isSpace(body[end-1]) {
			end--
		}
		out = append(out, body[start:end])
		if body[i] == ']' {
			return out, nil
		}
		i = skipSpace(body, i+1)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
