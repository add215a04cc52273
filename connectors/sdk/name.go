package sdk

import (
	"fmt"
	"strconv"
)

// MaxNameLen bounds the names of connectors, pipelines, topics and groups.
const MaxNameLen = 128

// NameRule says in words what ValidName accepts, for error messages.
const NameRule = "1 to 128 letters, digits, - or _"

// ValidName reports whether s is a valid name for a connector, pipeline,
// topic or consumer group: 1 to MaxNameLen ASCII letters, digits, '-' and
// '_'. Such names are safe as a token of a NATS subject, a stream name and a
// KV key ('.' would split a subject token), and several of them together stay
// far below the NATS control line (4 KB), which a longer name broke.
// pipelines, the REST API and the worker all check names with this one rule.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CheckName returns an error wrapping ErrInvalidConfig that names field,
// unless ValidName(s).
func CheckName(field, s string) error {
	if ValidName(s) {
		return nil
	}
	return fmt.Errorf("%w: %s: %s must be %s", ErrInvalidConfig, field, ShowName(s), NameRule)
}

// ShowName quotes a name for a message, shortening a long one so that the
// message stays readable (and small) however long the name was.
func ShowName(s string) string {
	const keep = 40
	if len(s) <= keep+8 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:keep], len(s))
}
