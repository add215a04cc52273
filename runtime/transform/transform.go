package transform

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// Transform changes one record.
type Transform interface {
	// Apply changes rec in place. keep=false drops the record (filter). A route sets rec.Topic.
	Apply(ctx context.Context, rec *sdk.Record) (keep bool, err error)
}

// Chain applies transforms in order.
type Chain []Transform

// Apply runs every transform in order and stops at the first that drops the
// record or fails.
func (c Chain) Apply(ctx context.Context, rec *sdk.Record) (bool, error) {
	for _, t := range c {
		keep, err := t.Apply(ctx, rec)
		if err != nil || !keep {
			return false, err
		}
	}
	return true, nil
}

// Error says a transform could not handle one record. The worker sends the
// record to the dead-letter topic (or fails the task) by its error policy.
type Error struct {
	Transform string // the transform's type, e.g. "cast"
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

func (e *Error) Error() string {
	where := "source record"
	if e.Topic != "" {
		where = fmt.Sprintf("topic %q partition %d offset %d", e.Topic, e.Partition, e.Offset)
	}
	return fmt.Sprintf("transform %s: %s: %v", e.Transform, where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// recordError wraps err with the record's place in the log.
func recordError(typ string, rec *sdk.Record, err error) *Error {
	return &Error{Transform: typ, Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Err: err}
}

// configError builds the error New returns for a bad setting.
func configError(typ, field, format string, args ...any) error {
	return &sdk.ConfigError{
		Connector: "transform " + typ,
		Errors:    []sdk.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}},
	}
}

type entry struct {
	spec sdk.Spec
	// shorthand is the setting a bare scalar or list stands for in YAML
	// (`filter: "value.x > 1"`); "" when the transform has none.
	shorthand string
	build     func(cfg sdk.Config) (Transform, error)
}

// registry lists every transform explicitly, in one place.
var registry = map[string]entry{
	"insert_field":  insertFieldEntry,
	"rename":        renameEntry,
	"drop_fields":   dropFieldsEntry,
	"keep_fields":   keepFieldsEntry,
	"mask":          maskEntry,
	"value_to_key":  valueToKeyEntry,
	"extract_field": extractFieldEntry,
	"cast":          castEntry,
	"set_header":    setHeaderEntry,
	"drop_header":   dropHeaderEntry,
	"filter":        filterEntry,
	"route":         routeEntry,
}

// ErrUnknown is returned for a transform type nobody declared.
var ErrUnknown = errors.New("unknown transform")

// Specs returns the spec of every transform by its name in pipeline files.
func Specs() map[string]sdk.Spec {
	out := make(map[string]sdk.Spec, len(registry))
	for name, e := range registry {
		out[name] = e.spec
	}
	return out
}

// Names lists the transform types, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// New builds a transform from a config validated against Specs()[typ].
func New(typ string, cfg sdk.Config) (Transform, error) {
	e, ok := registry[typ]
	if !ok {
		return nil, unknownError(typ)
	}
	return e.build(cfg)
}

func unknownError(typ string) error {
	msg := fmt.Sprintf("%v %q", ErrUnknown, typ)
	if hint := sdk.Suggest(typ, Names()); hint != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", hint)
	}
	return fmt.Errorf("%s; known: %s: %w", msg, strings.Join(Names(), ", "), sdk.ErrInvalidConfig)
}

// Parse validates raw settings as written in a pipeline file and builds the
// transform. raw is a map of settings, or a bare value for transforms with a
// shorthand: a string for filter and route (the expression), a list for
// drop_fields, keep_fields, mask and drop_header (the fields or headers).
func Parse(typ string, raw any) (Transform, error) {
	e, ok := registry[typ]
	if !ok {
		return nil, unknownError(typ)
	}
	settings, ok := raw.(map[string]any)
	if !ok {
		if e.shorthand == "" || raw == nil {
			return nil, configError(typ, typ, "must be a map of settings (%s)", strings.Join(fieldNames(e.spec), ", "))
		}
		settings = map[string]any{e.shorthand: raw}
	}
	cfg, err := e.spec.Validate(settings)
	if err != nil {
		return nil, err
	}
	return e.build(cfg)
}

// Build turns a pipeline's `transforms:` list into a Chain. Each item is a
// map with exactly one key, the transform type, whose value is its settings:
//
//	transforms: [ { filter: "value.amount > 1000" }, { insert_field: { field: source, value: web } } ]
//
// Errors name the item: "transforms[1].insert_field: ...".
func Build(items []any) (Chain, error) {
	chain := make(Chain, 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, fmt.Errorf("transforms[%d]: must be a map with one key, the transform type (one of %s): %w",
				i, strings.Join(Names(), ", "), sdk.ErrInvalidConfig)
		}
		for typ, raw := range m {
			t, err := Parse(typ, raw)
			if err != nil {
				return nil, fmt.Errorf("transforms[%d].%s: %w", i, typ, err)
			}
			chain = append(chain, t)
		}
	}
	return chain, nil
}

func fieldNames(s sdk.Spec) []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// fieldsOf returns the record's structured value, decoding it when needed.
// A tombstone has no fields: ok is false and the transform leaves it alone.
func fieldsOf(typ string, rec *sdk.Record) (m map[string]any, ok bool, err error) {
	m, err = rec.Structured()
	if err != nil {
		return nil, false, recordError(typ, rec, err)
	}
	return m, m != nil, nil
}

// changed marks the structured value as modified so the worker re-encodes it.
func changed(rec *sdk.Record) { rec.Value = nil }
