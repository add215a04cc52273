package sdk

import (
	"fmt"
	"strings"
)

// RedactURLs hides the password of every URL in s:
// "https://user:pw@host/x" becomes "https://user:[hidden]@host/x". It scans
// text rather than parsing one URL, so lists, templates and URLs inside
// longer values are covered too. The user name is kept.
func RedactURLs(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			break
		}
		start := i + len("://")
		b.WriteString(s[:start])
		s = s[start:]
		pw := urlPassword(s)
		if pw.end == 0 {
			continue
		}
		b.WriteString(s[:pw.start])
		b.WriteString(Hidden)
		s = s[pw.end:]
	}
	b.WriteString(s)
	return b.String()
}

// span is a byte range; end 0 means none.
type span struct{ start, end int }

// urlPassword finds the password in the authority at the start of s (what
// follows "scheme://"): the authority ends at / ? # or white space, its
// userinfo at the last @, the user name at the first colon.
func urlPassword(s string) span {
	auth := s
	if end := strings.IndexAny(s, "/?#\t\n\r \"'"); end >= 0 {
		auth = s[:end]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return span{}
	}
	colon := strings.IndexByte(auth[:at], ':')
	if colon < 0 || colon+1 == at {
		return span{}
	}
	return span{colon + 1, at}
}

// urlPasswords returns the passwords of the URLs in s, for scrubbing.
func urlPasswords(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			return out
		}
		s = s[i+len("://"):]
		if pw := urlPassword(s); pw.end > 0 {
			out = append(out, s[pw.start:pw.end])
			s = s[pw.end:]
		}
	}
}

// redactValue hides URL passwords in a setting's value, however nested.
func redactValue(v any) any {
	switch x := v.(type) {
	case string:
		return RedactURLs(x)
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = RedactURLs(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(e)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[k] = RedactURLs(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = redactValue(e)
		}
		return out
	}
	return v
}

// Secrets returns the values in raw that must never be shown or logged:
// those of secret settings, and the passwords of URLs in any other setting.
// Callers scrub them from error messages and logs.
func (s Spec) Secrets(raw map[string]any) []string {
	var out []string
	for k, v := range raw {
		if f := s.Field(k); f != nil && f.Secret {
			out = appendStrings(out, v)
			continue
		}
		for _, str := range appendStrings(nil, v) {
			out = append(out, urlPasswords(str)...)
		}
	}
	return out
}

// appendStrings appends every string in v, however nested; other scalars
// are rendered as text.
func appendStrings(out []string, v any) []string {
	switch x := v.(type) {
	case nil:
	case string:
		out = append(out, x)
	case []string:
		out = append(out, x...)
	case []any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	case map[string]string:
		for _, e := range x {
			out = append(out, e)
		}
	case map[string]any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	default:
		out = append(out, fmt.Sprint(x))
	}
	return out
}
