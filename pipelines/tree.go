package pipelines

import (
	"errors"
	"fmt"
	"math"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// kind is the shape of a YAML value.
type kind int

const (
	kindNull kind = iota
	kindScalar
	kindMap
	kindSeq
)

// node is a YAML value with its position, already interpolated. The goccy AST
// is converted into nodes once so the rest of the package deals with three
// shapes instead of twenty node types, and with aliases already resolved.
type node struct {
	kind   kind
	line   int
	col    int
	val    any    // scalars: string, int64, uint64, float64 or bool
	text   string // scalars: the text as written, shown instead of interpolated values
	interp bool   // the value came from ${...}: never echo it
	size   int    // values in this subtree, aliases expanded (capped)
	bad    bool   // interpolation failed and was linted: no more lints here
	keys   []*node
	vals   []*node
	items  []*node
}

// get returns the value of key in a map node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindMap {
		return nil
	}
	for i, k := range n.keys {
		if k.str() == key {
			return n.vals[i]
		}
	}
	return nil
}

// keyNode returns the key node of key in a map node, or nil.
func (n *node) keyNode(key string) *node {
	if n == nil || n.kind != kindMap {
		return nil
	}
	for _, k := range n.keys {
		if k.str() == key {
			return k
		}
	}
	return nil
}

// str returns a scalar's string value, "" for other shapes.
func (n *node) str() string {
	if n == nil || n.kind != kindScalar {
		return ""
	}
	if s, ok := n.val.(string); ok {
		return s
	}
	return n.text
}

// show renders a scalar for a message without revealing interpolated values.
func (n *node) show() string {
	switch {
	case n == nil || n.kind == kindNull:
		return "nothing"
	case n.kind == kindMap:
		return "a map"
	case n.kind == kindSeq:
		return "a list"
	case n.interp:
		return fmt.Sprintf("the value of %s", n.text)
	}
	if s, ok := n.val.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return n.text
}

// maxNodes bounds the values one file may expand to through aliases, so a
// "billion laughs" file fails with a lint instead of exhausting memory.
const maxNodes = 100_000

// builder converts a goccy AST into nodes, interpolating strings on the way.
type builder struct {
	p       *parser_
	anchors map[string]*node
	count   int
	inKey   bool // keys are names, never interpolated
	// bigLinted: the too-many-values lint was reported.
	bigLinted bool
}

// parser_ is the state shared by one Parse call.
type parser_ struct {
	file   string
	lints  []Lint
	interp *interpolator
}

func (p *parser_) lintAt(line, col int, format string, args ...any) {
	p.lints = append(p.lints, Lint{File: p.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser_) lint(n *node, format string, args ...any) {
	if n != nil && n.bad {
		return // the interpolation lint already says what is wrong
	}
	line, col := 1, 1
	if n != nil {
		line, col = n.line, n.col
	}
	p.lintAt(line, col, format, args...)
}

// parseYAML parses data into a node tree; syntax errors become lints.
func (p *parser_) parseYAML(data []byte) (root *node) {
	defer func() {
		// The YAML library is fuzzed less than we are: a panic in it on a
		// hostile file must not take the worker down.
		if r := recover(); r != nil {
			p.lintAt(1, 1, "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		p.syntaxLint(err)
		return nil
	}
	var docs []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d.Body)
		}
	}
	if len(docs) == 0 {
		p.lintAt(1, 1, "empty pipeline file: start with version: 1")
		return nil
	}
	if len(docs) > 1 {
		tk := docs[1].GetToken()
		p.lintAt(posOf(tk).Line, posOf(tk).Column, "a pipeline file holds one YAML document; found a second one")
	}
	b := &builder{p: p, anchors: map[string]*node{}}
	return b.build(docs[0])
}

func (p *parser_) syntaxLint(err error) {
	line, col := 1, 1
	msg := err.Error()
	var se *yaml.SyntaxError
	if errors.As(err, &se) {
		if se.Token != nil && se.Token.Position != nil {
			line, col = se.Token.Position.Line, se.Token.Position.Column
		}
		msg = se.Message
	}
	p.lintAt(line, col, "YAML syntax: %s", msg)
}

var noPos = &token.Position{Line: 1, Column: 1}

func posOf(tk *token.Token) *token.Position {
	if tk == nil || tk.Position == nil {
		return noPos
	}
	return tk.Position
}

func (b *builder) newNode(k kind, n ast.Node) *node {
	b.count++
	p := posOf(n.GetToken())
	return &node{kind: k, line: p.Line, col: p.Column}
}

func (b *builder) build(n ast.Node) *node {
	out := b.build1(n)
	out.size = 1
	for _, c := range append(append(out.keys, out.vals...), out.items...) {
		out.size = min(out.size+c.size, maxNodes+1)
	}
	return out
}

// tooBig lints once when the file has expanded past maxNodes values.
func (b *builder) tooBig(n ast.Node) bool {
	if b.count <= maxNodes {
		return false
	}
	if !b.bigLinted {
		p := posOf(n.GetToken())
		b.p.lintAt(p.Line, p.Column, "the file expands to more than %d values; simplify its anchors and aliases", maxNodes)
		b.bigLinted = true
	}
	return true
}

func (b *builder) build1(n ast.Node) *node {
	if n == nil {
		return &node{kind: kindNull, line: 1, col: 1}
	}
	if b.tooBig(n) {
		return &node{kind: kindNull}
	}
	switch x := n.(type) {
	case *ast.MappingNode:
		out := b.newNode(kindMap, x)
		for _, mv := range x.Values {
			b.addPair(out, mv)
		}
		return out
	case *ast.MappingValueNode:
		out := b.newNode(kindMap, x)
		b.addPair(out, x)
		return out
	case *ast.SequenceNode:
		out := b.newNode(kindSeq, x)
		for _, v := range x.Values {
			out.items = append(out.items, b.build(v))
		}
		return out
	case *ast.AnchorNode:
		v := b.build(x.Value)
		if x.Name != nil {
			b.anchors[x.Name.GetToken().Value] = v
		}
		return v
	case *ast.AliasNode:
		name := ""
		if x.Value != nil {
			name = x.Value.GetToken().Value
		}
		if v, ok := b.anchors[name]; ok {
			if b.count += v.size; b.tooBig(n) {
				return &node{kind: kindNull}
			}
			return v
		}
		out := b.newNode(kindNull, x)
		b.p.lint(out, "alias *%s refers to no anchor defined before it", name)
		return out
	case *ast.TagNode:
		return b.build(x.Value)
	case *ast.MappingKeyNode:
		return b.build(x.Value)
	case *ast.NullNode:
		out := b.newNode(kindNull, x)
		out.text = "null"
		return out
	}
	return b.scalar(n)
}

// addPair adds one key: value to a map node; a merge key (<<) copies the keys
// of the merged maps that the map does not set itself.
func (b *builder) addPair(m *node, mv *ast.MappingValueNode) {
	if mv.Key == nil {
		return
	}
	if mv.Key.IsMergeKey() {
		v := b.build(mv.Value)
		srcs := []*node{v}
		if v.kind == kindSeq {
			srcs = v.items
		}
		for _, src := range srcs {
			if src.kind != kindMap {
				b.p.lint(src, "a merge key (<<) needs a map or a list of maps")
				continue
			}
			for i, k := range src.keys {
				if m.keyNode(k.str()) == nil {
					m.keys = append(m.keys, k)
					m.vals = append(m.vals, src.vals[i])
				}
			}
		}
		return
	}
	b.inKey = true
	k := b.build(mv.Key)
	b.inKey = false
	if k.kind != kindScalar {
		b.p.lint(k, "map keys must be plain names, not %s", k.show())
		return
	}
	if _, ok := k.val.(string); !ok {
		k.val = k.text // keys are names: 1: x is the key "1"
	}
	v := b.build(mv.Value)
	if v.kind == kindNull && v.line == 1 && v.col == 1 && mv.Value == nil {
		v.line, v.col = k.line, k.col
	}
	if i := indexKey(m, k.str()); i >= 0 {
		// Merged keys give way to keys written out; a key written twice is
		// rejected by the YAML parser already.
		m.keys[i], m.vals[i] = k, v
		return
	}
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
}

func indexKey(m *node, key string) int {
	for i, k := range m.keys {
		if k.str() == key {
			return i
		}
	}
	return -1
}

func (b *builder) scalar(n ast.Node) *node {
	out := b.newNode(kindScalar, n)
	tk := n.GetToken()
	if tk != nil {
		out.text = tk.Value
	}
	switch x := n.(type) {
	case *ast.StringNode:
		out.val = x.Value
		b.interpolate(out, tk, x.Value)
	case *ast.LiteralNode:
		s := ""
		if x.Value != nil {
			s = x.Value.Value
		}
		out.val, out.text = s, s
		b.interpolate(out, tk, s)
	case *ast.IntegerNode:
		out.val = x.Value
	case *ast.FloatNode:
		out.val = x.Value
	case *ast.InfinityNode:
		out.val = x.Value
	case *ast.NanNode:
		out.val = math.NaN()
	case *ast.BoolNode:
		out.val = x.Value
	default:
		out.val = out.text
	}
	return out
}

// interpolate expands ${...} in a string scalar in place.
func (b *builder) interpolate(n *node, tk *token.Token, s string) {
	if b.inKey {
		return
	}
	col := n.col
	if tk != nil && (tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType) {
		col++ // the position is the opening quote's
	}
	res, substituted, errs := b.p.interp.expand(s)
	for _, e := range errs {
		b.p.lintAt(n.line, col+e.offset, "%s", e.msg)
	}
	n.val, n.text, n.interp, n.bad = res, s, substituted, len(errs) > 0
}
