// Package convert turns record bytes into structured values and back.
//
// The worker decodes a record's value with the topic's converter on the way into
// a transform or a sink that needs fields, and encodes structured values from a
// source on the way into the log. Converters: json, string, bytes, csv; the
// schema-registry formats (avro, protobuf, jsonschema) plug in through the same
// interface.
package convert

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/braidhq/braid/schema"
)

// Converter encodes and decodes one data format.
type Converter interface {
	// Name is the converter's name in pipeline files ("json", "avro", ...).
	Name() string
	// Decode turns bytes into a structured value. Converters of opaque data
	// (string, bytes) return a nil map: the record stays raw.
	Decode(ctx context.Context, topic string, data []byte) (map[string]any, *schema.Schema, error)
	// Encode turns a structured value into bytes; s may be nil when unknown.
	Encode(ctx context.Context, topic string, value map[string]any, s *schema.Schema) ([]byte, error)
}

// Factory builds a converter from its options (the `converter:` block of a
// pipeline file, minus `type`).
type Factory func(opts map[string]any, env Env) (Converter, error)

// Env carries what schema-aware converters need.
type Env struct {
	// Registry is the schema registry client; nil when no registry is configured.
	Registry any
}

// ErrUnknown is returned for a converter name nobody registered.
var ErrUnknown = errors.New("unknown converter")

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register adds a converter factory. Built-in converters are registered by
// the package that defines them, from one explicit list (see Builtin).
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	factories[name] = f
}

// New builds the named converter.
func New(name string, opts map[string]any, env Env) (Converter, error) {
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknown, name, Names())
	}
	return f(opts, env)
}

// Names lists registered converters, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
