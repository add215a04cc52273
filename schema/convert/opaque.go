package convert

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/braidhq/braid/schema"
)

// stringConverter carries UTF-8 text as it is. Decode returns no fields (the
// record stays raw) but rejects bytes that are not UTF-8, so a topic declared
// as text holds text. A structured value is written as JSON text.
type stringConverter struct{}

func (stringConverter) Name() string { return "string" }

func (stringConverter) Decode(_ context.Context, _ string, data []byte) (map[string]any, *schema.Schema, error) {
	if !utf8.Valid(data) {
		return nil, nil, fmt.Errorf("string: value is not valid UTF-8 (first bad byte at %d)", firstInvalid(data))
	}
	return nil, nil, nil
}

func (stringConverter) Encode(_ context.Context, _ string, value map[string]any, _ *schema.Schema) ([]byte, error) {
	return encodeOpaque("string", value)
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// bytesConverter carries any bytes as they are.
type bytesConverter struct{}

func (bytesConverter) Name() string { return "bytes" }

func (bytesConverter) Decode(context.Context, string, []byte) (map[string]any, *schema.Schema, error) {
	return nil, nil, nil
}

func (bytesConverter) Encode(_ context.Context, _ string, value map[string]any, _ *schema.Schema) ([]byte, error) {
	return encodeOpaque("bytes", value)
}

// encodeOpaque writes a structured value reaching an opaque converter as
// JSON, so a transform that set fields loses nothing.
func encodeOpaque(name string, value map[string]any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	b, err := appendObject(nil, value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}
