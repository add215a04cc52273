package convert

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Builtin registers the converters that need no schema registry: json,
// string, bytes and csv. main calls it once; there is no init() magic.
func Builtin() {
	Register("json", newJSON)
	Register("string", func(opts map[string]any, _ Env) (Converter, error) {
		return stringConverter{}, checkOptions("string", opts)
	})
	Register("bytes", func(opts map[string]any, _ Env) (Converter, error) {
		return bytesConverter{}, checkOptions("bytes", opts)
	})
	Register("csv", newCSV)
}

// OptionError is a mistake in one converter option.
type OptionError struct {
	Converter string
	Option    string
	Message   string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("converter %s: option %s: %s", e.Converter, e.Option, e.Message)
}

// checkOptions rejects options the converter does not know.
func checkOptions(conv string, opts map[string]any, known ...string) error {
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(known, k) {
			msg := "unknown option"
			if len(known) > 0 {
				msg += " (known: " + strings.Join(known, ", ") + ")"
			}
			return &OptionError{Converter: conv, Option: k, Message: msg}
		}
	}
	return nil
}

func boolOption(conv string, opts map[string]any, name string) (bool, error) {
	v, ok := opts[name]
	if !ok || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, &OptionError{Converter: conv, Option: name, Message: fmt.Sprintf("must be true or false, not %v", v)}
	}
	return b, nil
}
