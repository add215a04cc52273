package registry

import (
	"fmt"
	"slices"
)

// Every request has a bounded cost: a schema's text and nesting are bounded
// before any parser sees it, and a compatibility check may take a bounded
// number of steps, however the schemas refer to themselves.
const (
	// maxSchemaBytes matches what Confluent can hold: its schemas are Kafka
	// records of the _schemas topic, 1 MiB by default.
	maxSchemaBytes = 1 << 20
	// maxTotalBytes bounds a schema with all its references, so parsing one
	// costs what reading the largest request body costs.
	maxTotalBytes = maxBody
	// maxReferences bounds the references a schema reaches, directly or not.
	maxReferences = 1000
	// maxSchemaDepth bounds nesting of objects, arrays and messages, so no
	// parser or checker recurses deeper; real schemas stay far below.
	maxSchemaDepth = 256
	// maxCheckSteps bounds the nodes one request may compare, over all the
	// versions it checks against: well under a second of work, and ten times
	// the nodes of a large real schema.
	maxCheckSteps = 250_000
	// maxCheckDepth bounds how deep a check descends: two recursive schemas
	// whose cycles differ in length meet a new pair at every level until the
	// cycles realign, and each level holds a longer path.
	maxCheckDepth = 1000
)

// checkSchemaSize refuses a schema whose references together are too large.
func checkSchemaSize(s Schema, refs []resolvedRef) error {
	total := len(s.Schema)
	for _, r := range refs {
		total += len(r.Schema.Schema)
	}
	if total > maxTotalBytes {
		return fmt.Errorf("the schema and its references have %d bytes, more than the limit of %d", total, maxTotalBytes)
	}
	return checkSchemaText(s.format(), s.Schema)
}

// checkSchemaText refuses a schema too large or too deeply nested to parse
// at bounded cost.
func checkSchemaText(f Format, text string) error {
	if len(text) > maxSchemaBytes {
		return fmt.Errorf("the schema has %d bytes, more than the limit of %d", len(text), maxSchemaBytes)
	}
	if d, at := nesting(text, f == Protobuf); d > maxSchemaDepth {
		return fmt.Errorf("the schema nests deeper than %d levels (at byte %d)", maxSchemaDepth, at)
	}
	return nil
}

// nesting returns the deepest nesting of brackets outside strings (and, for
// Protobuf, outside comments), and the byte offset where it passed the limit.
func nesting(text string, proto bool) (depth, at int) {
	d := 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"' || (proto && c == '\''):
			for i++; i < len(text) && text[i] != c; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case proto && c == '/' && i+1 < len(text) && text[i+1] == '/':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case proto && c == '/' && i+1 < len(text) && text[i+1] == '*':
			for i += 2; i+1 < len(text) && (text[i] != '*' || text[i+1] != '/'); i++ {
			}
			i++
		case c == '{' || c == '[' || c == '(' || c == '<':
			d++
			if d > depth {
				depth = d
				if d > maxSchemaDepth {
					return depth, i
				}
			}
		case c == '}' || c == ']' || c == ')' || c == '>':
			d--
		}
	}
	return depth, 0
}

// budget counts the steps a request may still take, and how deep its
// check is.
type budget struct {
	left, depth int
	tooDeep     bool
}

func newBudget() *budget { return &budget{left: maxCheckSteps} }

// spend takes n steps and reports whether the budget still holds.
func (b *budget) spend(n int) bool {
	b.left -= n
	return b.left >= 0
}

// enter takes a step one level deeper and reports whether the budget still
// holds; every enter needs its leave.
func (b *budget) enter() bool {
	b.depth++
	if b.depth > maxCheckDepth {
		b.tooDeep, b.left = true, -1
	}
	return b.spend(1)
}

func (b *budget) leave() { b.depth-- }

func (b *budget) exceeded() bool { return b.left < 0 }

// err is the error for an exceeded budget.
func (b *budget) err() *Error {
	if b.tooDeep {
		return newErr(CodeInvalidSchema,
			"Invalid schema: checking compatibility descends more than %d levels into the schemas' references; simplify the schema",
			maxCheckDepth)
	}
	return newErr(CodeInvalidSchema,
		"Invalid schema: checking compatibility takes more than %d steps; simplify the schema or check it against fewer versions",
		maxCheckSteps)
}

// pairMemo remembers each pair of (reader node, writer node) a checker has
// compared, so recursive schemas compare every pair once: a pair met again
// while it is being compared is a cycle, assumed compatible (the check is
// co-inductive, like subtyping of recursive types); a pair compared before
// reports the reasons it found then.
type pairMemo[K comparable] map[K]*pairOutcome

type pairOutcome struct {
	done    bool
	reasons []string
}

// visit runs compare for key unless the pair was met before; reasons is the
// checker's list, to which compare appends.
func (m pairMemo[K]) visit(key K, reasons *[]string, b *budget, compare func()) {
	if o, ok := m[key]; ok {
		if o.done && b.spend(len(o.reasons)) {
			*reasons = append(*reasons, o.reasons...)
		}
		return
	}
	o := &pairOutcome{}
	m[key] = o
	start := len(*reasons)
	compare()
	o.reasons = slices.Clone((*reasons)[start:])
	o.done = true
}

// uniqueReasons drops repeats, which a pair reached along two paths gives.
func uniqueReasons(reasons []string) []string {
	seen := make(map[string]bool, len(reasons))
	out := reasons[:0]
	for _, r := range reasons {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
