package registry

import (
	"fmt"
	"slices"

	"github.com/hamba/avro/v2"
)

type avroSchema struct {
	schema    avro.Schema
	canonical string
}

func (a *avroSchema) Format() Format    { return Avro }
func (a *avroSchema) Canonical() string { return a.canonical }

// Avro returns the parsed Avro schema.
func (a *avroSchema) Avro() avro.Schema { return a.schema }

// AvroSchema returns the hamba/avro schema of a parsed Avro schema.
func AvroSchema(p Parsed) (avro.Schema, bool) {
	a, ok := p.(*avroSchema)
	if !ok {
		return nil, false
	}
	return a.schema, true
}

func parseAvro(text string, refs []resolvedRef) (*avroSchema, error) {
	// A fresh cache per parse: hamba's default cache is global and would let
	// one subject's named types leak into another's.
	cache := &avro.SchemaCache{}
	for _, r := range refs {
		if r.Schema.format() != Avro {
			return nil, fmt.Errorf("reference %q is %s, not AVRO", r.Name, r.Schema.format())
		}
		if _, err := avro.ParseWithCache(r.Schema.Schema, "", cache); err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
	}
	s, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, err
	}
	canon, _, err := canonicalJSON(text, simplifyAvro)
	if err != nil {
		return nil, err
	}
	return &avroSchema{schema: s, canonical: canon}, nil
}

// simplifyAvro rewrites {"type":"int"} to "int" so both spellings of a
// primitive normalise alike.
func simplifyAvro(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if t, ok := x["type"].(string); ok && len(x) == 1 {
			return t
		}
		for k, e := range x {
			x[k] = simplifyAvro(e)
		}
	case []any:
		for i, e := range x {
			x[i] = simplifyAvro(e)
		}
	}
	return v
}

// avroCompatible applies the Avro specification's schema resolution rules:
// can a reader with schema r decode data written with schema w?
// Recursion passes through named records only, and each pair of records is
// compared once.
func avroCompatible(r, w *avroSchema, b *budget) []string {
	c := avroChecker{memo: pairMemo[[2]*avro.RecordSchema]{}, budget: b}
	c.check(r.schema, w.schema, "")
	return uniqueReasons(c.reasons)
}

type avroChecker struct {
	reasons []string
	memo    pairMemo[[2]*avro.RecordSchema]
	budget  *budget
}

func (c *avroChecker) fail(rule, path, format string, args ...any) {
	if path == "" {
		path = "/"
	}
	c.reasons = append(c.reasons, fmt.Sprintf("%s at %s: %s", rule, path, fmt.Sprintf(format, args...)))
}

func deref(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

func (c *avroChecker) check(r, w avro.Schema, path string) {
	ok := c.budget.enter()
	defer c.budget.leave()
	if !ok {
		return
	}
	r, w = deref(r), deref(w)
	if wu, ok := w.(*avro.UnionSchema); ok {
		for i, branch := range wu.Types() {
			c.checkBranch(r, branch, fmt.Sprintf("%s/%d", path, i))
		}
		return
	}
	if ru, ok := r.(*avro.UnionSchema); ok {
		c.checkBranch(ru, w, path)
		return
	}
	if r.Type() != w.Type() {
		if !avroPromotable(w.Type(), r.Type()) {
			c.fail("TYPE_MISMATCH", path, "reader type %s cannot read writer type %s", r.Type(), w.Type())
		}
		return
	}
	switch rs := r.(type) {
	case *avro.RecordSchema:
		c.checkRecord(rs, w.(*avro.RecordSchema), path)
	case *avro.EnumSchema:
		ws := w.(*avro.EnumSchema)
		c.checkName(rs, ws, path)
		if rs.HasDefault() {
			return
		}
		for _, sym := range ws.Symbols() {
			if !slices.Contains(rs.Symbols(), sym) {
				c.fail("MISSING_ENUM_SYMBOLS", path, "reader enum %s lacks writer symbol %q and has no default", rs.FullName(), sym)
			}
		}
	case *avro.FixedSchema:
		ws := w.(*avro.FixedSchema)
		c.checkName(rs, ws, path)
		if rs.Size() != ws.Size() {
			c.fail("FIXED_SIZE_MISMATCH", path, "fixed %s has size %d, writer has %d", rs.FullName(), rs.Size(), ws.Size())
		}
	case *avro.ArraySchema:
		c.check(rs.Items(), w.(*avro.ArraySchema).Items(), path+"/items")
	case *avro.MapSchema:
		c.check(rs.Values(), w.(*avro.MapSchema).Values(), path+"/values")
	}
}

// checkBranch reports a writer branch that no reader branch can read.
func (c *avroChecker) checkBranch(r, w avro.Schema, path string) {
	ru, ok := deref(r).(*avro.UnionSchema)
	if !ok {
		c.check(r, w, path)
		return
	}
	for _, branch := range ru.Types() {
		sub := avroChecker{memo: c.memo, budget: c.budget}
		sub.check(branch, w, path)
		if len(sub.reasons) == 0 {
			return
		}
	}
	c.fail("MISSING_UNION_BRANCH", path, "reader union lacks a branch for writer type %s", describeAvro(w))
}

func describeAvro(s avro.Schema) string {
	if n, ok := deref(s).(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func (c *avroChecker) checkRecord(r, w *avro.RecordSchema, path string) {
	c.memo.visit([2]*avro.RecordSchema{r, w}, &c.reasons, c.budget, func() { c.checkFields(r, w, path) })
}

func (c *avroChecker) checkFields(r, w *avro.RecordSchema, path string) {
	c.checkName(r, w, path)
	for i, rf := range r.Fields() {
		wf := findAvroField(w.Fields(), rf)
		fpath := fmt.Sprintf("%s/fields/%d", path, i)
		if wf == nil {
			if !rf.HasDefault() {
				c.fail("READER_FIELD_MISSING_DEFAULT_VALUE", fpath,
					"field %q of %s is missing from the writer schema and has no default", rf.Name(), r.FullName())
			}
			continue
		}
		c.check(rf.Type(), wf.Type(), fpath+"/type")
	}
}

func findAvroField(fields []*avro.Field, rf *avro.Field) *avro.Field {
	for _, f := range fields {
		if f.Name() == rf.Name() || slices.Contains(rf.Aliases(), f.Name()) {
			return f
		}
	}
	return nil
}

func (c *avroChecker) checkName(r, w avro.NamedSchema, path string) {
	if r.Name() == w.Name() || slices.Contains(r.Aliases(), w.FullName()) || slices.Contains(r.Aliases(), w.Name()) {
		return
	}
	c.fail("NAME_MISMATCH", path, "reader name %s does not match writer name %s", r.FullName(), w.FullName())
}

// avroPromotable lists the Avro specification's type promotions.
func avroPromotable(w, r avro.Type) bool {
	switch w {
	case avro.Int:
		return r == avro.Long || r == avro.Float || r == avro.Double
	case avro.Long:
		return r == avro.Float || r == avro.Double
	case avro.Float:
		return r == avro.Double
	case avro.String:
		return r == avro.Bytes
	case avro.Bytes:
		return r == avro.String
	}
	return false
}
