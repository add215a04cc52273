package sdk

import (
	"errors"
	"strings"
	"testing"
)

func TestMinMax(t *testing.T) {
	t.Parallel()
	spec := Spec{Name: "x", Kind: KindSource, Summary: "s", Fields: []Field{
		{Name: "n", Type: TypeInt, Min: 1, Doc: "d"},
		{Name: "r", Type: TypeFloat, Min: 0, Max: 0.5, Doc: "d"},
		{Name: "d", Type: TypeDuration, Max: "1h", Doc: "d"},
		{Name: "one", Type: TypeInt, Min: 1, Max: 1, Doc: "d"},
	}}
	if err := CheckSpec(spec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		raw  map[string]any
		want string // "" for valid
	}{
		{map[string]any{"n": 1, "r": 0.5, "d": "1h", "one": 1}, ""},
		{map[string]any{"n": 0}, "n: must be at least 1, not 0"},
		{map[string]any{"n": "-3"}, "n: must be at least 1, not -3"},
		{map[string]any{"r": 0.75}, "r: must be between 0 and 0.5, not 0.75"},
		{map[string]any{"r": -1}, "r: must be between 0 and 0.5, not -1"},
		{map[string]any{"d": "2h"}, "d: must be at most 1h0m0s, not 2h0m0s"},
		{map[string]any{"one": 2}, "one: must be 1, not 2"},
	} {
		_, err := spec.Validate(c.raw)
		var ce *ConfigError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.raw, err)
		case c.want != "" && (!errors.As(err, &ce) || len(ce.Errors) != 1 || ce.Errors[0].Error() != c.want):
			t.Errorf("%v: got %v, want %q", c.raw, err, c.want)
		}
	}
}

func TestCheckSpecBounds(t *testing.T) {
	t.Parallel()
	for _, f := range []Field{
		{Name: "s", Type: TypeString, Min: 1, Doc: "d"},
		{Name: "n", Type: TypeInt, Min: "many", Doc: "d"},
		{Name: "n", Type: TypeInt, Min: 1, Default: 0, Doc: "d"},
	} {
		if err := CheckSpec(Spec{Name: "x", Kind: KindSink, Summary: "s", Fields: []Field{f}}); err == nil {
			t.Errorf("%+v: CheckSpec accepted it", f)
		}
	}
}

// The cross-field hook runs inside Validate, so every caller of Validate
// (lint, the REST API, the worker) reports its errors; a setting that
// failed its own checks is not reported again by the hook.
func TestSpecCheck(t *testing.T) {
	t.Parallel()
	spec := Spec{Name: "x", Kind: KindSource, Summary: "s", Fields: []Field{
		{Name: "a", Type: TypeString, Doc: "d"},
		{Name: "b", Type: TypeInt, Doc: "d"},
	}, Check: func(cfg Config) []FieldError {
		var errs []FieldError
		if cfg.Has("a") == cfg.Has("b") {
			errs = append(errs, FieldError{Field: "a", Message: "set exactly one of a and b"})
		}
		if !cfg.Has("b") {
			errs = append(errs, FieldError{Field: "b", Message: "hook saw no b"})
		}
		return errs
	}}
	_, err := spec.Validate(map[string]any{"a": "x", "b": 1})
	if err == nil || !strings.Contains(err.Error(), "a: set exactly one of a and b") || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("both: %v", err)
	}
	_, err = spec.Validate(map[string]any{"b": "many"})
	if err == nil || strings.Contains(err.Error(), "hook saw no b") || !strings.Contains(err.Error(), "b: must be a whole number") {
		t.Fatalf("bad b: %v", err)
	}
	if _, err := spec.Validate(map[string]any{"b": 2}); err != nil {
		t.Fatal(err)
	}
}
