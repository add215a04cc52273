package pipelines

import "bytes"

// Bounds on one pipeline file. Every file a person writes is far inside them;
// they exist so that a hostile upload (POST /pipelines) costs little memory
// and time before it is refused.
const (
	// MaxFileSize bounds a pipeline file in bytes.
	MaxFileSize = 4 << 20
	// MaxDepth bounds how deeply maps and lists nest.
	MaxDepth = 64
	// MaxValues bounds the keys, values and list items of a file, aliases
	// expanded: 20,000 connectors take about 200,000.
	MaxValues = 500_000
)

// prescan bounds flow nesting and the number of values before the YAML parser
// sees the bytes: 40,000 "[" are 80 KB but would make the parser build 40,000
// levels. It is a cheap lexical pass, not a parser: it skips comments and
// quoted strings and counts what starts a value ([ { , - and "key:"). Block
// nesting costs indentation, so the file size bounds it; the builder checks
// the exact depth and count afterwards.
func (p *parser_) prescan(data []byte) bool {
	depth, values := 0, 0
	line, lineStart := 1, 0
	var quote byte // the open quote, or 0
	prev := byte('\n')
	for i := 0; i < len(data); i++ {
		c := data[i]
		col := i - lineStart + 1
		switch {
		case c == '\n':
			line, lineStart = line+1, i+1
		case quote == '"' && c == '\\' && i+1 < len(data) && data[i+1] != '\n':
			i++ // an escaped character, maybe a quote
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '#' && isSpace(prev):
			if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
				i += j - 1 // stop before the newline so lines stay counted
			} else {
				i = len(data)
			}
		case (c == '"' || c == '\'') && isValueStart(prev):
			quote = c
		case c == '[' || c == '{':
			depth++
			values++
			if depth > MaxDepth {
				p.lintAt(line, col, "maps and lists nest deeper than %d levels here; flatten the file", MaxDepth)
				return false
			}
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
		case c == ',' || (c == '-' || c == ':') && (i+1 == len(data) || isSpace(data[i+1])):
			values++
		}
		if values > MaxValues {
			p.lintAt(line, col, "the file holds more than %d values; split it into several pipeline files", MaxValues)
			return false
		}
		prev = c
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isValueStart reports whether a quote after c opens a quoted string (it does
// not in don't).
func isValueStart(c byte) bool {
	return isSpace(c) || c == '[' || c == '{' || c == ',' || c == ':' || c == '-'
}
