package registry

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unsafe"
)

// jsonCompatible checks that every document valid under the writer's schema
// is valid under the reader's, with Confluent's rule names. Open content
// models (additionalProperties absent or true) make adding a property a
// FORWARD-only change and removing one a BACKWARD-only change, as in Confluent.
// Each pair of schema nodes is compared once, so "$ref": "#" ends.
func jsonCompatible(r, w *jsonSchema, b *budget) []string {
	c := jsonChecker{jsonRun: &jsonRun{rroot: r.doc, wroot: w.doc, budget: b,
		memo: pairMemo[[2]unsafe.Pointer]{}, anything: map[string]any{}}}
	c.check(r.doc, w.doc, "#")
	return uniqueReasons(c.reasons)
}

// jsonRun is the state every checker of one comparison shares.
type jsonRun struct {
	rroot, wroot any
	// memo is keyed by the nodes' maps: a pointer that also keeps them
	// alive, so no other map can take their address.
	memo   pairMemo[[2]unsafe.Pointer]
	budget *budget
	// anything stands for a writer node that accepts any value (true or
	// absent), one node so that it has one identity.
	anything map[string]any
}

type jsonChecker struct {
	*jsonRun
	reasons []string
}

func (c *jsonChecker) fail(rule, path, format string, args ...any) {
	c.reasons = append(c.reasons, fmt.Sprintf("%s at %s: %s", rule, path, fmt.Sprintf(format, args...)))
}

// resolveLocal follows local "$ref"s ("#/definitions/x") inside root. It
// returns the ref it could not follow, if any.
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

// nodeID identifies a schema node of a parsed document.
func nodeID(m map[string]any) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }

func (c *jsonChecker) check(r, w any, path string) {
	ok := c.budget.enter()
	defer c.budget.leave()
	if !ok {
		return
	}
	var rref, wref string
	r, rref = resolveLocal(c.rroot, r)
	w, wref = resolveLocal(c.wroot, w)
	if rb, ok := r.(bool); ok || r == nil {
		if (ok && rb) || r == nil {
			return // reader accepts everything
		}
	}
	if wb, ok := w.(bool); ok && !wb {
		return // writer accepts nothing
	}
	rm, _ := r.(map[string]any)
	if rm == nil {
		c.fail("TYPE_NARROWED", path, "the new schema rejects every value")
		return
	}
	wm, _ := w.(map[string]any)
	if wm == nil {
		wm = c.anything
	}
	c.memo.visit([2]unsafe.Pointer{nodeID(rm), nodeID(wm)}, &c.reasons, c.budget, func() {
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
	})
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
	if !c.budget.spend(len(re) + len(we)) {
		return
	}
	allowed := make(map[string]bool, len(re))
	for _, x := range re {
		allowed[jsonText(x)] = true
	}
	for _, v := range we {
		if !allowed[jsonText(v)] {
			c.fail("ENUM_ARRAY_NARROWED", path, "enum value %v was removed", jsonText(v))
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

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
			ws = []any{w} // w itself is the one alternative
		}
		for i, wb := range ws {
			found := false
			for _, rb := range rs {
				sub := jsonChecker{jsonRun: c.jsonRun}
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
