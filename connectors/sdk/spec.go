package sdk

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind says whether a connector reads or writes.
type Kind string

// The connector kinds; KindTransform marks the spec of a single-record
// transform (runtime/transform), which is validated like a connector's.
const (
	KindSource    Kind = "source"
	KindSink      Kind = "sink"
	KindTransform Kind = "transform"
)

// FieldType is the type of one setting.
type FieldType string

// The setting types a spec can declare.
const (
	TypeString   FieldType = "string"
	TypeInt      FieldType = "int"
	TypeFloat    FieldType = "float"
	TypeBool     FieldType = "bool"
	TypeDuration FieldType = "duration" // "5s", "1h30m"
	TypeList     FieldType = "list"     // list of strings
	TypeMap      FieldType = "map"      // string → string
	TypeAny      FieldType = "any"      // passed through as decoded YAML
)

// Field is one setting of a connector.
type Field struct {
	Name     string    `json:"name"`
	Type     FieldType `json:"type"`
	Default  any       `json:"default,omitempty"`
	Required bool      `json:"required,omitempty"`
	Secret   bool      `json:"secret,omitempty"`
	// Path marks a string setting that names a file, directory or glob on
	// the server. Connectors created over the REST API may name only places
	// inside the directories the operator allowed (braid run --allow-path).
	Path    bool     `json:"path,omitempty"`
	Doc     string   `json:"doc"`
	Enum    []string `json:"enum,omitempty"`
	Example string   `json:"example,omitempty"`
	// Placeholders are the ${name}s the connector itself fills in (a jdbc
	// sink's table.name.format: "${topic}"). Pipeline files pass them through
	// untouched instead of reading them from the environment.
	Placeholders []string `json:"placeholders,omitempty"`
	// Min and Max bound an int, float or duration setting (nil: unbounded).
	// They are written like Default, in the field's type: Min: 1, Max: 0.5,
	// Max: "1h". Validate reports a value outside them naming the field.
	Min any `json:"min,omitempty"`
	Max any `json:"max,omitempty"`
	// Check validates a value that already has the right type.
	Check func(v any) error `json:"-"`
}

// Spec declares a connector: its name, kind and settings.
type Spec struct {
	Name    string  `json:"name"`
	Kind    Kind    `json:"kind"`
	Summary string  `json:"summary"`
	Doc     string  `json:"doc,omitempty"`
	Version string  `json:"version,omitempty"`
	Fields  []Field `json:"fields"`
	// Check validates the settings against each other (exactly one of two
	// given, one needed by another's value) after each field's own checks;
	// a setting that failed those is absent from cfg (Has is false). Every
	// FieldError names the setting to fix. Validate calls it, so lint, the
	// REST API and the worker all report its errors before a connector
	// starts, and a constructor given a Config need not check again.
	Check func(cfg Config) []FieldError `json:"-"`
	// MaxTasks bounds the connector's tasks (0: the worker's limit); a
	// connector that must run alone (one hash chain per directory) says 1.
	MaxTasks int `json:"max_tasks,omitempty"`
}

// Hidden replaces secret values, and passwords in URLs, wherever configs are
// shown.
const Hidden = "[hidden]"

// FieldError is a configuration mistake in one setting.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// ConfigError lists every mistake found in one connector's settings.
type ConfigError struct {
	Connector string
	Errors    []FieldError
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return fmt.Sprintf("connector %s: %s", e.Connector, strings.Join(parts, "; "))
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Field returns the spec of the named setting, or nil.
func (s Spec) Field(name string) *Field {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// Validate checks raw settings against the spec, applies defaults and returns
// the typed Config. Every mistake is reported, each naming its field.
func (s Spec) Validate(raw map[string]any) (Config, error) {
	cfg := Config{values: map[string]any{}, spec: s}
	var errs []FieldError
	for name := range raw {
		if s.Field(name) == nil {
			msg := "unknown setting"
			if hint := Suggest(name, s.fieldNames()); hint != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", hint)
			}
			errs = append(errs, FieldError{Field: name, Message: msg})
		}
	}
	for _, f := range s.Fields {
		v, ok := raw[f.Name]
		if !ok || v == nil {
			if f.Required {
				errs = append(errs, FieldError{Field: f.Name, Message: "required setting is missing"})
				continue
			}
			if f.Default == nil {
				continue
			}
			v = f.Default
		}
		tv, err := coerce(f.Type, v)
		if err == nil && len(f.Enum) > 0 {
			if str, _ := tv.(string); !contains(f.Enum, str) {
				err = fmt.Errorf("must be one of %s, not %q", strings.Join(f.Enum, ", "), str)
				if hint := Suggest(str, f.Enum); hint != "" {
					err = fmt.Errorf("%w (did you mean %q?)", err, hint)
				}
			}
		}
		if err == nil {
			err = f.checkBounds(tv)
		}
		if err == nil && f.Check != nil {
			err = f.Check(tv)
		}
		if err != nil {
			errs = append(errs, FieldError{Field: f.Name, Message: err.Error()})
			continue
		}
		cfg.values[f.Name] = tv
	}
	if s.Check != nil {
		// A setting that failed its own checks is absent from cfg; what
		// Check then says about it would only repeat that mistake.
		failed := map[string]bool{}
		for _, fe := range errs {
			failed[fe.Field] = true
		}
		for _, fe := range s.Check(cfg) {
			if !failed[fe.Field] {
				errs = append(errs, fe)
			}
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	if len(errs) > 0 {
		return cfg, &ConfigError{Connector: s.Name, Errors: errs}
	}
	return cfg, nil
}

// checkBounds reports a value below Min or above Max. The message gives
// the whole range when both bounds are set.
func (f Field) checkBounds(v any) error {
	lo, hi := f.bound(f.Min), f.bound(f.Max)
	below := lo != nil && compare(v, lo) < 0
	above := hi != nil && compare(v, hi) > 0
	switch {
	case !below && !above:
		return nil
	case lo != nil && hi != nil && compare(lo, hi) == 0:
		return fmt.Errorf("must be %s, not %s", show(lo), show(v))
	case lo != nil && hi != nil:
		return fmt.Errorf("must be between %s and %s, not %s", show(lo), show(hi), show(v))
	case below:
		return fmt.Errorf("must be at least %s, not %s", show(lo), show(v))
	}
	return fmt.Errorf("must be at most %s, not %s", show(hi), show(v))
}

// bound coerces Min or Max to the field's type; CheckSpec reports one that
// does not coerce, so here it is only nil when unset.
func (f Field) bound(b any) any {
	if b == nil {
		return nil
	}
	v, err := coerce(f.Type, b)
	if err != nil {
		return nil
	}
	return v
}

// compare orders two values of one numeric field type.
func compare(a, b any) int {
	switch x := a.(type) {
	case int64:
		return cmpOrdered(x, b.(int64))
	case float64:
		return cmpOrdered(x, b.(float64))
	case time.Duration:
		return cmpOrdered(x, b.(time.Duration))
	}
	return 0
}

func cmpOrdered[T int64 | float64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func show(v any) string { return fmt.Sprint(v) }

func (s Spec) fieldNames() []string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	return names
}

// Redact returns a copy of raw with every secret setting replaced by Hidden
// and the password of every URL in the other settings hidden (RedactURLs).
func (s Spec) Redact(raw map[string]any) map[string]any {
	out := make(map[string]any, len(raw))
	for k, v := range raw {
		if f := s.Field(k); f != nil && f.Secret && v != nil {
			out[k] = Hidden
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func coerce(t FieldType, v any) (any, error) {
	switch t {
	case TypeString:
		switch x := v.(type) {
		case string:
			return x, nil
		case int, int64, uint64, float64, bool:
			return fmt.Sprint(x), nil
		}
	case TypeInt:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case uint64:
			return int64(x), nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("must be a whole number, not %s", describe(v))
	case TypeFloat:
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case uint64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
		}
		return nil, fmt.Errorf("must be a number, not %s", describe(v))
	case TypeBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
		return nil, fmt.Errorf("must be true or false, not %s", describe(v))
	case TypeDuration:
		switch x := v.(type) {
		case time.Duration:
			return x, nil
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, fmt.Errorf("must be a duration like 5s or 1h30m, not %q", x)
			}
			return d, nil
		case int, int64, uint64:
			if fmt.Sprint(x) == "0" {
				return time.Duration(0), nil
			}
		}
		return nil, fmt.Errorf("must be a duration like 5s or 1h30m, not %s", describe(v))
	case TypeList:
		switch x := v.(type) {
		case []string:
			return x, nil
		case string:
			return []string{x}, nil
		case []any:
			out := make([]string, len(x))
			for i, e := range x {
				switch e.(type) {
				case string, int, int64, uint64, float64, bool:
					out[i] = fmt.Sprint(e)
				default:
					return nil, fmt.Errorf("item %d must be a string, not %s", i, describe(e))
				}
			}
			return out, nil
		}
		return nil, fmt.Errorf("must be a list, not %s", describe(v))
	case TypeMap:
		switch x := v.(type) {
		case map[string]string:
			return x, nil
		case map[string]any:
			out := make(map[string]string, len(x))
			for k, e := range x {
				switch e.(type) {
				case string, int, int64, uint64, float64, bool:
					out[k] = fmt.Sprint(e)
				default:
					return nil, fmt.Errorf("key %q must be a string, not %s", k, describe(e))
				}
			}
			return out, nil
		}
		return nil, fmt.Errorf("must be a map, not %s", describe(v))
	case TypeAny:
		return v, nil
	}
	return nil, fmt.Errorf("must be a %s, not %s", t, describe(v))
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a map"
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%v", v)
}

// Config is a connector's validated settings, defaults applied.
type Config struct {
	values map[string]any
	spec   Spec
}

// NewConfig validates raw against spec; it is Spec.Validate for callers that
// prefer a function.
func NewConfig(spec Spec, raw map[string]any) (Config, error) { return spec.Validate(raw) }

// Has reports whether the setting has a value (given or defaulted).
func (c Config) Has(name string) bool { _, ok := c.values[name]; return ok }

func (c Config) get(name string) any {
	if c.spec.Field(name) == nil {
		panic(fmt.Sprintf("connector %s reads undeclared setting %q", c.spec.Name, name))
	}
	return c.values[name]
}

// String returns a string setting, "" when unset.
func (c Config) String(name string) string { s, _ := c.get(name).(string); return s }

// Int returns an int setting, 0 when unset.
func (c Config) Int(name string) int64 { n, _ := c.get(name).(int64); return n }

// Float returns a float setting, 0 when unset.
func (c Config) Float(name string) float64 { f, _ := c.get(name).(float64); return f }

// Bool returns a bool setting, false when unset.
func (c Config) Bool(name string) bool { b, _ := c.get(name).(bool); return b }

// Duration returns a duration setting, 0 when unset.
func (c Config) Duration(name string) time.Duration { d, _ := c.get(name).(time.Duration); return d }

// Strings returns a list setting, nil when unset.
func (c Config) Strings(name string) []string { l, _ := c.get(name).([]string); return l }

// Map returns a map setting, nil when unset.
func (c Config) Map(name string) map[string]string { m, _ := c.get(name).(map[string]string); return m }

// Any returns a setting as decoded YAML.
func (c Config) Any(name string) any { return c.get(name) }

// Suggest returns the candidate closest to name when it is close enough to be a
// likely typo, or "".
func Suggest(name string, candidates []string) string {
	best, bestD := "", len(name)/2+2
	for _, c := range candidates {
		if d := levenshtein(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// CheckSpec reports mistakes in a spec itself; the conformance suite runs it.
func CheckSpec(s Spec) error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("spec has no name"))
	}
	if s.Kind != KindSource && s.Kind != KindSink && s.Kind != KindTransform {
		errs = append(errs, fmt.Errorf("spec %s: kind must be source, sink or transform", s.Name))
	}
	if s.Summary == "" {
		errs = append(errs, fmt.Errorf("spec %s: no summary", s.Name))
	}
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if seen[f.Name] {
			errs = append(errs, fmt.Errorf("spec %s: setting %q declared twice", s.Name, f.Name))
		}
		seen[f.Name] = true
		if f.Doc == "" {
			errs = append(errs, fmt.Errorf("spec %s: setting %q has no doc", s.Name, f.Name))
		}
		if f.Default != nil {
			if _, err := coerce(f.Type, f.Default); err != nil {
				errs = append(errs, fmt.Errorf("spec %s: default of %q: %v", s.Name, f.Name, err))
			}
		}
		if f.Path && f.Type != TypeString {
			errs = append(errs, fmt.Errorf("spec %s: %q is a path, so its type must be string", s.Name, f.Name))
		}
		for _, b := range []struct {
			name string
			v    any
		}{{"min", f.Min}, {"max", f.Max}} {
			if b.v == nil {
				continue
			}
			if f.Type != TypeInt && f.Type != TypeFloat && f.Type != TypeDuration {
				errs = append(errs, fmt.Errorf("spec %s: %q has a %s but is a %s, not a number or duration", s.Name, f.Name, b.name, f.Type))
			} else if _, err := coerce(f.Type, b.v); err != nil {
				errs = append(errs, fmt.Errorf("spec %s: %s of %q: %v", s.Name, b.name, f.Name, err))
			}
		}
		if f.Default != nil && f.bound(f.Default) != nil && f.checkBounds(f.bound(f.Default)) != nil {
			errs = append(errs, fmt.Errorf("spec %s: default of %q: %v", s.Name, f.Name, f.checkBounds(f.bound(f.Default))))
		}
		if f.Required && f.Default != nil {
			errs = append(errs, fmt.Errorf("spec %s: %q is required and has a default", s.Name, f.Name))
		}
	}
	return errors.Join(errs...)
}

// BoundsDoc says Min and Max in words for the docs, "" when unbounded.
func (f Field) BoundsDoc() string {
	lo, hi := f.bound(f.Min), f.bound(f.Max)
	switch {
	case lo != nil && hi != nil && compare(lo, hi) == 0:
		return fmt.Sprintf("Always `%s`.", show(lo))
	case lo != nil && hi != nil:
		return fmt.Sprintf("From `%s` to `%s`.", show(lo), show(hi))
	case lo != nil:
		return fmt.Sprintf("At least `%s`.", show(lo))
	case hi != nil:
		return fmt.Sprintf("At most `%s`.", show(hi))
	}
	return ""
}

// Markdown renders the spec as a connector docs page section.
func (s Spec) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# `%s` (%s)\n\n%s\n\n", s.Name, s.Kind, s.Summary)
	if s.Doc != "" {
		fmt.Fprintf(&b, "%s\n\n", s.Doc)
	}
	if s.MaxTasks > 0 {
		fmt.Fprintf(&b, "Runs at most `tasks: %d`; more are refused by lint, the API and the worker.\n\n", s.MaxTasks)
	}
	b.WriteString("| setting | type | default | required | description |\n|---|---|---|---|---|\n")
	for _, f := range s.Fields {
		req := ""
		if f.Required {
			req = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, f.Type, f.DefaultDoc(), req, f.DescriptionDoc())
	}
	return b.String()
}

// DefaultDoc is the default of the setting for a docs table, "" without one.
func (f Field) DefaultDoc() string {
	if f.Default == nil {
		return ""
	}
	return fmt.Sprintf("`%v`", f.Default)
}

// DescriptionDoc is the setting's doc with its bounds, values and secrecy,
// escaped for a Markdown table cell.
func (f Field) DescriptionDoc() string {
	doc := f.Doc
	if r := f.BoundsDoc(); r != "" {
		doc += " " + r
	}
	if len(f.Enum) > 0 {
		doc += " One of: `" + strings.Join(f.Enum, "`, `") + "`."
	}
	if f.Secret {
		doc += " Secret: never logged or shown."
	}
	return strings.ReplaceAll(doc, "|", "\\|")
}
