package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// jsonCompatible checks that every document valid under the writer's schema
// is valid under the reader's, with Confluent's rule names. Open content
// models (additionalProperties absent or true) make adding a property a
// FORWARD-only change and removing one a BACKWARD-only change, as in Confluent.
func jsonCompatible(r, w *jsonSchema) []string {
	c := jsonChecker{rroot: r.doc, wroot: w.doc, seen: map[[2]string]bool{}}
	c.check(r.doc, w.doc, "#")
	return c.reasons
}

type jsonChecker struct {
	rroot, wroot any
	seen         map[[2]string]bool
	reasons      []string
}

func (c *jsonChecker) fail(rule, path, format string, args ...any) {
	c.reasons = append(c.reasons, fmt.Sprintf("%s at %s: %s", rule, path, fmt.Sprintf(format, args...)))
}

// resolve follows a local "$ref" ("#/definitions/x") inside root.
func resolveLocal(root, s any) (any, string) {
	for range 32 {
		m, ok := s.(map[string]any)
		if !ok {
			return s, ""
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return s, ref
		}
		s = root
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/") {
			if tok == "" {
				continue
			}
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			mm, ok := s.(map[string]any)
			if !ok {
				return nil, ref
			}
			s = mm[tok]
		}
	}
	return s, ""
}

func (c *jsonChecker) check(r, w any, path string) {
	var rref, wref string
	r, rref = resolveLocal(c.rroot, r)
	w, wref = resolveLocal(c.wroot, w)
	if rref != "" || wref != "" {
		key := [2]string{rref, wref}
		if c.seen[key] {
			return
		}
		c.seen[key] = true
	}
	if rb, ok := r.(bool); ok || r == nil {
		if (ok && rb) || r == nil {
			return // reader accepts everything
		}
	}
	if wb, ok := w.(bool); ok && !wb {
		return // writer accepts nothing
	}
	rm, _ := r.(map[string]any)
	wm, _ := w.(map[string]any)
	if rm == nil {
		c.fail("TYPE_NARROWED", path, "the new schema rejects every value")
		return
	}
	if wm == nil {
		wm = map[string]any{}
	}
	if rref != wref && (rref != "" && wref != "") && !strings.HasPrefix(rref, "#") {
		c.fail("REFERENCE_CHANGED", path, "$ref changed from %q to %q", wref, rref)
	}
	if !c.checkTypes(rm, wm, path) {
		return
	}
	c.checkEnum(rm, wm, path)
	c.checkBounds(rm, wm, path)
	c.checkObject(rm, wm, path)
	c.checkArray(rm, wm, path)
	c.checkCombined(rm, wm, path)
}

func jsonTypes(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (c *jsonChecker) checkTypes(r, w map[string]any, path string) bool {
	rt, wt := jsonTypes(r), jsonTypes(w)
	if len(rt) == 0 {
		return true
	}
	if len(wt) == 0 {
		c.fail("TYPE_NARROWED", path, "type %v added where any type was allowed", rt)
		return false
	}
	ok := true
	for _, t := range wt {
		if slices.Contains(rt, t) || (t == "integer" && slices.Contains(rt, "number")) {
			continue
		}
		if len(wt) == 1 && len(rt) == 1 {
			c.fail("TYPE_CHANGED", path, "type changed from %s to %s", t, rt[0])
		} else {
			c.fail("TYPE_NARROWED", path, "type %s is no longer allowed", t)
		}
		ok = false
	}
	return ok
}

func (c *jsonChecker) checkEnum(r, w map[string]any, path string) {
	re, rok := r["enum"].([]any)
	if !rok {
		return
	}
	we, wok := w["enum"].([]any)
	if !wok {
		c.fail("ENUM_ARRAY_NARROWED", path, "enum added where any value was allowed")
		return
	}
	for _, v := range we {
		if !slices.ContainsFunc(re, func(x any) bool { return jsonEqual(x, v) }) {
			c.fail("ENUM_ARRAY_NARROWED", path, "enum value %v was removed", jsonText(v))
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonEqual(a, b any) bool { return jsonText(a) == jsonText(b) }

func jsonNumber(m map[string]any, key string) (float64, bool) {
	switch n := m[key].(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

// bound is a keyword that restricts values from above (max) or below.
type bound struct {
	key, rule string
	max       bool
}

var jsonBounds = []bound{
	{"maxLength", "MAX_LENGTH", true}, {"minLength", "MIN_LENGTH", false},
	{"maximum", "MAXIMUM", true}, {"minimum", "MINIMUM", false},
	{"exclusiveMaximum", "EXCLUSIVE_MAXIMUM", true}, {"exclusiveMinimum", "EXCLUSIVE_MINIMUM", false},
	{"maxItems", "MAX_ITEMS", true}, {"minItems", "MIN_ITEMS", false},
	{"maxProperties", "MAX_PROPERTIES", true}, {"minProperties", "MIN_PROPERTIES", false},
}

func (c *jsonChecker) checkBounds(r, w map[string]any, path string) {
	for _, b := range jsonBounds {
		rv, rok := jsonNumber(r, b.key)
		if !rok {
			continue
		}
		wv, wok := jsonNumber(w, b.key)
		switch {
		case !wok:
			c.fail(b.rule+"_ADDED", path, "%s %v added", b.key, rv)
		case b.max && rv < wv:
			c.fail(b.rule+"_DECREASED", path, "%s decreased from %v to %v", b.key, wv, rv)
		case !b.max && rv > wv:
			c.fail(b.rule+"_INCREASED", path, "%s increased from %v to %v", b.key, wv, rv)
		}
	}
	if rp, ok := r["pattern"].(string); ok {
		if wp, _ := w["pattern"].(string); wp != rp {
			c.fail("PATTERN_CHANGED", path, "pattern changed from %q to %q", wp, rp)
		}
	}
	if rv, ok := jsonNumber(r, "multipleOf"); ok {
		wv, wok := jsonNumber(w, "multipleOf")
		if !wok || wv/rv != float64(int64(wv/rv)) {
			c.fail("MULTIPLE_OF_CHANGED", path, "multipleOf %v does not divide the old %v", rv, wv)
		}
	}
	if r["uniqueItems"] == true && w["uniqueItems"] != true {
		c.fail("UNIQUE_ITEMS_ADDED", path, "uniqueItems added")
	}
}

// openContent reports whether an object schema accepts undeclared properties,
// and the schema they must match (nil for any).
func openContent(m map[string]any) (bool, any) {
	switch ap := m["additionalProperties"].(type) {
	case nil:
		return true, nil
	case bool:
		return ap, nil
	default:
		return true, ap
	}
}

func (c *jsonChecker) checkObject(r, w map[string]any, path string) {
	rprops, _ := r["properties"].(map[string]any)
	wprops, _ := w["properties"].(map[string]any)
	ropen, rextra := openContent(r)
	wopen, wextra := openContent(w)
	for name, ws := range wprops {
		p := path + "/properties/" + name
		if rs, ok := rprops[name]; ok {
			c.check(rs, ws, p)
			continue
		}
		switch {
		case !ropen:
			c.fail("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p, "property %q removed while additionalProperties is false", name)
		case rextra != nil:
			c.check(rextra, ws, p)
		}
	}
	for name, rs := range rprops {
		if _, ok := wprops[name]; ok {
			continue
		}
		p := path + "/properties/" + name
		switch {
		case wopen && wextra == nil:
			if !isTrueSchema(rs) {
				c.fail("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", p,
					"property %q added while the old schema allowed any additional property", name)
			}
		case wopen:
			c.check(rs, wextra, p)
		}
	}
	if !ropen && wopen {
		c.fail("ADDITIONAL_PROPERTIES_REMOVED", path, "additionalProperties set to false")
	} else if rextra != nil && wopen {
		if wextra == nil {
			c.fail("ADDITIONAL_PROPERTIES_NARROWED", path, "additionalProperties restricted to a schema")
		} else {
			c.check(rextra, wextra, path+"/additionalProperties")
		}
	}
	rreq, _ := r["required"].([]any)
	wreq, _ := w["required"].([]any)
	for _, name := range rreq {
		if !slices.ContainsFunc(wreq, func(x any) bool { return x == name }) {
			c.fail("REQUIRED_ATTRIBUTE_ADDED", path+"/required", "property %v became required", name)
		}
	}
}

func isTrueSchema(s any) bool {
	if b, ok := s.(bool); ok {
		return b
	}
	m, ok := s.(map[string]any)
	return ok && len(m) == 0
}

func (c *jsonChecker) checkArray(r, w map[string]any, path string) {
	ri, rok := r["items"]
	if !rok {
		return
	}
	wi, wok := w["items"]
	if !wok {
		wi = true
	}
	c.check(ri, wi, path+"/items")
}

// checkCombined requires every writer alternative to fit some reader one.
func (c *jsonChecker) checkCombined(r, w map[string]any, path string) {
	for _, key := range []string{"anyOf", "oneOf"} {
		rs, ok := r[key].([]any)
		if !ok {
			continue
		}
		ws, wok := w[key].([]any)
		if !wok {
			ws = []any{w}
		}
		for i, wb := range ws {
			found := false
			for _, rb := range rs {
				sub := jsonChecker{rroot: c.rroot, wroot: c.wroot, seen: c.seen}
				if !wok {
					wbm := map[string]any{}
					for k, v := range wb.(map[string]any) {
						if k != key {
							wbm[k] = v
						}
					}
					wb = wbm
				}
				sub.check(rb, wb, path)
				if len(sub.reasons) == 0 {
					found = true
					break
				}
			}
			if !found {
				c.fail("COMBINED_TYPE_SUBSCHEMAS_CHANGED", fmt.Sprintf("%s/%s/%d", path, key, i),
					"no alternative of the new %s accepts this old alternative", key)
			}
		}
	}
}
