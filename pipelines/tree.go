package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
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
	// maps: where each key is, and whether it was written in the map
	// rather than merged with <<.
	byKey   map[string]int
	written []bool
	// strings: the column text starts at, and its interpolation mistakes.
	textCol int
	errs    []Lint
}

// index returns the position of key in a map node, or -1.
func (n *node) index(key string) int {
	if i, ok := n.byKey[key]; ok {
		return i
	}
	return -1
}

// put appends a key and its value to a map node.
func (n *node) put(k, v *node) {
	if n.byKey == nil {
		n.byKey = map[string]int{}
	}
	n.byKey[k.str()] = len(n.keys)
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
	n.written = append(n.written, false)
}

// get returns the value of key in a map node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindMap {
		return nil
	}
	if i := n.index(key); i >= 0 {
		return n.vals[i]
	}
	return nil
}

// keyNode returns the key node of key in a map node, or nil.
func (n *node) keyNode(key string) *node {
	if n == nil || n.kind != kindMap {
		return nil
	}
	if i := n.index(key); i >= 0 {
		return n.keys[i]
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

// builder converts a YAML node tree into nodes, interpolating strings on the
// way.
type builder struct {
	p *parser_
	// built maps anchored YAML nodes to their nodes, so an alias shares the
	// anchor's node (interpolated once) instead of building it again; nil
	// marks an anchor whose value is still being built.
	built map[*yaml.Node]*node
	count int  // values so far, aliases expanded
	inKey bool // keys are names, never interpolated
	// stop: a bound was hit and linted; the tree is not used.
	stop bool
}

// parser_ is the state shared by one Parse call.
type parser_ struct {
	file   string
	lints  []Lint
	interp *interpolator
	// expanded are the nodes whose interpolation went wrong.
	expanded []*node
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

// parseYAML parses data into a node tree; syntax errors become lints. It
// uses go.yaml.in/yaml/v3, whose parser is linear in the number of keys of a
// map (goccy/go-yaml 1.19 is quadratic: 20,000 sources took seconds).
func (p *parser_) parseYAML(data []byte) (root *node) {
	defer func() {
		// The YAML library is fuzzed less than we are: a panic in it on a
		// hostile file must not take the worker down.
		if r := recover(); r != nil {
			p.lintAt(1, 1, "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	if !p.prescan(data) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.lintAt(1, 1, "empty pipeline file: start with version: 1")
		} else {
			p.syntaxLint(data, err)
		}
		return nil
	}
	if len(doc.Content) == 0 {
		p.lintAt(1, 1, "empty pipeline file: start with version: 1")
		return nil
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil || !errors.Is(err, io.EOF) {
		line, col := second.Line, second.Column
		if err != nil || line == 0 {
			line, col = documentStart(data)
		}
		p.lintAt(line, col, "a pipeline file holds one YAML document; found a second one")
	}
	b := &builder{p: p, built: map[*yaml.Node]*node{}}
	root = b.build(doc.Content[0], 1)
	if b.stop {
		return nil // the bound's lint says it all; the rest would be noise
	}
	return root
}

// documentStart finds the line of a second document's "---".
func documentStart(data []byte) (int, int) {
	lines := bytes.Split(data, []byte("\n"))
	seen := false
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte("---")) {
			if seen || i > 0 {
				return i + 1, 1
			}
			seen = true
		}
	}
	return 1, 1
}

// yamlLine is where go.yaml.in/yaml/v3 says an error is; it gives no column.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// unknownAnchor is the parser's message for an alias without an anchor.
var unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

func (p *parser_) syntaxLint(data []byte, err error) {
	msg := err.Error()
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		line, col := findAlias(data, m[1])
		p.lintAt(line, col, "alias *%s refers to no anchor defined before it", m[1])
		return
	}
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if isParserError(msg) {
			line++ // the library counts these lines from 0, scanner errors from 1
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	p.lintAt(line, 1, "YAML syntax: %s", msg)
}

// isParserError reports whether msg comes from libyaml's parser rather than
// its scanner (see parserc.go).
func isParserError(msg string) bool {
	for _, p := range []string{"did not find expected ", "found duplicate %", "found incompatible YAML", "found undefined tag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// findAlias returns the position of the first *name in data.
func findAlias(data []byte, name string) (int, int) {
	needle := []byte("*" + name)
	for off := 0; ; {
		i := bytes.Index(data[off:], needle)
		if i < 0 {
			return 1, 1
		}
		at := off + i
		end := at + len(needle)
		if end == len(data) || !isAnchorChar(data[end]) {
			line := 1 + bytes.Count(data[:at], []byte("\n"))
			lineStart := bytes.LastIndexByte(data[:at], '\n') + 1
			return line, utf8.RuneCount(data[lineStart:at]) + 1
		}
		off = end
	}
}

func isAnchorChar(c byte) bool {
	return !isSpace(c) && !strings.ContainsRune(",[]{}", rune(c))
}

// count adds values and lints once when the file passes MaxValues.
func (b *builder) add(n int, y *yaml.Node, alias bool) bool {
	if b.stop {
		return false
	}
	if b.count += n; b.count <= MaxValues {
		return true
	}
	b.stop = true
	if alias {
		b.p.lintAt(y.Line, y.Column, "the file expands to more than %d values; simplify its anchors and aliases", MaxValues)
	} else {
		b.p.lintAt(y.Line, y.Column, "the file holds more than %d values; split it into several pipeline files", MaxValues)
	}
	return false
}

func (b *builder) build(y *yaml.Node, depth int) *node {
	out := b.build1(y, depth)
	out.size = 1
	for _, c := range append(append(out.keys, out.vals...), out.items...) {
		out.size = min(out.size+c.size, MaxValues+1)
	}
	return out
}

func (b *builder) build1(y *yaml.Node, depth int) *node {
	if y.Kind == yaml.AliasNode {
		return b.alias(y)
	}
	if !b.add(1, y, false) {
		return &node{kind: kindNull, line: y.Line, col: y.Column}
	}
	if depth > MaxDepth && (y.Kind == yaml.MappingNode || y.Kind == yaml.SequenceNode) {
		b.stop = true
		b.p.lintAt(y.Line, y.Column, "maps and lists nest deeper than %d levels here; flatten the file", MaxDepth)
		return &node{kind: kindNull, line: y.Line, col: y.Column}
	}
	if y.Anchor != "" {
		b.built[y] = nil // being built: an alias inside it is a cycle
	}
	var out *node
	switch y.Kind {
	case yaml.MappingNode:
		out = &node{kind: kindMap, line: y.Line, col: y.Column}
		for i := 0; i+1 < len(y.Content); i += 2 {
			b.addPair(out, y.Content[i], y.Content[i+1], depth)
		}
	case yaml.SequenceNode:
		out = &node{kind: kindSeq, line: y.Line, col: y.Column}
		for _, v := range y.Content {
			out.items = append(out.items, b.build(v, depth+1))
		}
	default:
		out = b.scalar(y)
	}
	if y.Anchor != "" {
		b.built[y] = out
	}
	return out
}

func (b *builder) alias(y *yaml.Node) *node {
	v, done := b.built[y.Alias]
	switch {
	case y.Alias == nil || !done:
		b.p.lintAt(y.Line, y.Column, "alias *%s refers to no anchor defined before it", y.Value)
	case v == nil:
		b.p.lintAt(y.Line, y.Column, "alias *%s is inside its own anchor; a value cannot contain itself", y.Value)
	case b.add(v.size, y, true):
		return v
	}
	return &node{kind: kindNull, line: y.Line, col: y.Column, bad: true}
}

// addPair adds one key: value to a map node; a merge key (<<) copies the keys
// of the merged maps that the map does not set itself.
func (b *builder) addPair(m *node, ky, vy *yaml.Node, depth int) {
	if ky.Kind == yaml.ScalarNode && ky.ShortTag() == "!!merge" {
		v := b.build(vy, depth+1)
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
				if m.index(k.str()) < 0 {
					m.put(k, src.vals[i])
				}
			}
		}
		return
	}
	b.inKey = true
	k := b.build(ky, depth+1)
	b.inKey = false
	v := b.build(vy, depth+1)
	if k.kind != kindScalar {
		b.p.lint(k, "map keys must be plain names, not %s", k.show())
		return
	}
	if _, ok := k.val.(string); !ok {
		k.val = k.text // keys are names: 1: x is the key "1"
	}
	if v.kind == kindNull && vy.Value == "" && vy.Style == 0 {
		v.line, v.col = k.line, k.col // nothing written: point at the key
	}
	if i := m.index(k.str()); i >= 0 {
		if m.written[i] {
			b.p.lint(k, "key %q is written twice in this map (first at line %d)", k.str(), m.keys[i].line)
			return
		}
		// Merged keys give way to keys written out.
		m.keys[i], m.vals[i], m.written[i] = k, v, true
		return
	}
	m.put(k, v)
	m.written[len(m.written)-1] = true
}

func (b *builder) scalar(y *yaml.Node) *node {
	out := &node{kind: kindScalar, line: y.Line, col: y.Column, text: y.Value, val: y.Value}
	switch y.ShortTag() {
	case "!!null":
		out.kind, out.val, out.text = kindNull, nil, "null"
	case "!!bool", "!!int", "!!float":
		var v any
		if err := y.Decode(&v); err == nil {
			switch x := v.(type) {
			case int:
				out.val = int64(x)
			case int64, uint64, float64, bool:
				out.val = x
			}
		}
	default:
		b.interpolate(out, y)
	}
	return out
}

// interpolate expands ${...} in a string scalar in place.
func (b *builder) interpolate(n *node, y *yaml.Node) {
	if b.inKey {
		return
	}
	col := n.col
	if y.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		col++ // the position is the opening quote's
	}
	n.textCol = col
	b.p.expand(n, nil)
}

// expand interpolates n.text into n.val, leaving the placeholders in keep as
// written. Its mistakes are held on the node until the file is compiled, so
// that a setting found to declare placeholders can expand again without them.
func (p *parser_) expand(n *node, keep []string) {
	res, substituted, errs := p.interp.expand(n.text, keep)
	n.val, n.interp, n.bad = res, substituted, len(errs) > 0
	if n.errs == nil && len(errs) > 0 {
		p.expanded = append(p.expanded, n)
	}
	n.errs = n.errs[:0]
	for _, e := range errs {
		n.errs = append(n.errs, Lint{File: p.file, Line: n.line, Column: n.textCol + e.offset, Msg: e.msg})
	}
}

// interpLints adds the interpolation mistakes that are left.
func (p *parser_) interpLints() {
	for _, n := range p.expanded {
		p.lints = append(p.lints, n.errs...)
	}
}
