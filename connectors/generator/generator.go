package generator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

const defaultTemplate = `{"n":{{.N}}}`

// checkTemplate parses a template the way New does, so a mistake in it is
// reported by lint and the API instead of when the task starts.
func checkTemplate(v any) error {
	_, err := template.New("").Funcs(funcs(nil)).Option("missingkey=error").Parse(v.(string))
	return err
}

func checkTemplates(v any) error {
	for name, text := range v.(map[string]string) {
		if err := checkTemplate(text); err != nil {
			return fmt.Errorf("field %q: %v", name, err)
		}
	}
	return nil
}

// checkSettings holds the rules across settings.
func checkSettings(cfg sdk.Config) []sdk.FieldError {
	if len(cfg.Map("fields")) > 0 && cfg.Has("template") {
		return []sdk.FieldError{{Field: "fields", Message: "set either template or fields, not both"}}
	}
	return nil
}

var spec = sdk.Spec{
	Name:    "generator",
	Kind:    sdk.KindSource,
	Summary: "Generates records from a template at a given rate: for demos, tests and benchmarks.",
	Doc: "Templates are Go text/template over `{{.N}}` (the record's number, from 1) and `{{.Now}}` " +
		"(the time it is made), with the functions `randInt lo hi`, `randFloat lo hi`, `pick \"a\" \"b\" ...`, " +
		"`bool`, `uuid`, `name`, `firstName`, `lastName`, `email`, `city`, `country`, `word` and `words n`. " +
		"Random values are seeded by `seed` and the record number, so record N is the same on every run. " +
		"The position is the number of records emitted, so a restart continues the numbering.",
	Fields: []sdk.Field{
		{Name: "count", Type: sdk.TypeInt, Default: 0, Min: 0,
			Doc: "How many records to make before ending (0: never end)."},
		{Name: "rate", Type: sdk.TypeFloat, Default: 0, Min: 0,
			Doc: "Records per second (0: as fast as possible)."},
		{Name: "template", Type: sdk.TypeString, Check: checkTemplate, Example: `{"id":{{.N}},"user":"{{name}}","amount":{{randInt 1 500}}}`,
			Doc: "Template of the value's bytes. Default `" + defaultTemplate + "`. Templates using only `{{.N}}` take a fast path with no template engine."},
		{Name: "fields", Type: sdk.TypeMap, Check: checkTemplates, Example: `{ user: "{{name}}", amount: "{{randInt 1 500}}" }`,
			Doc: "Instead of `template`: a structured record, one template per field. A field whose output is a JSON number, `true`, `false` or `null` gets that value, any other output is a string."},
		{Name: "key", Type: sdk.TypeString, Default: "{{.N}}", Check: checkTemplate,
			Doc: "Template of the record key; empty for records without a key."},
		{Name: "size", Type: sdk.TypeInt, Default: 0, Min: 0,
			Doc: "Pad each `template` value with spaces to this many bytes (0: no padding); JSON stays valid."},
		{Name: "seed", Type: sdk.TypeInt, Default: 1,
			Doc: "Seed of the random functions."},
		{Name: "batch.size", Type: sdk.TypeInt, Default: 1000, Min: 1,
			Doc: "Most records returned by one read."},
	},
	Check: checkSettings,
}

// Plugin returns the generator source connector.
func Plugin() sdk.Plugin { return sdk.Plugin{Spec: spec, NewSource: New} }

// Source generates records; see the package documentation.
type Source struct {
	count, size, batch int64
	rate               float64
	seed               uint64

	value  *renderer
	key    *renderer
	fields []fieldTmpl

	spaces []byte
	pcg    *rand.PCG
	data   tmplData
	buf    bytes.Buffer

	n         int64     // records emitted so far
	startN    int64     // n when rate accounting started
	startTime time.Time // when rate accounting started
}

type fieldTmpl struct {
	name string
	r    *renderer
}

type tmplData struct {
	N   int64
	Now time.Time
}

func configError(field, msg string) error {
	return &sdk.ConfigError{Connector: spec.Name, Errors: []sdk.FieldError{{Field: field, Message: msg}}}
}

// New builds a generator from validated settings.
func New(cfg sdk.Config, _ sdk.Env) (sdk.Source, error) {
	s := &Source{
		count: cfg.Int("count"), size: cfg.Int("size"), batch: cfg.Int("batch.size"),
		rate: cfg.Float("rate"), seed: uint64(cfg.Int("seed")),
	}
	s.spaces = bytes.Repeat([]byte{' '}, int(s.size))
	s.pcg = rand.NewPCG(s.seed, 0)
	fm := funcs(rand.New(s.pcg))
	var err error
	fields := cfg.Map("fields")
	if len(fields) == 0 {
		tmpl := cfg.String("template")
		if tmpl == "" {
			tmpl = defaultTemplate
		}
		if s.value, err = newRenderer("template", tmpl, fm); err != nil {
			return nil, configError("template", err.Error())
		}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r, err := newRenderer(name, fields[name], fm)
		if err != nil {
			return nil, configError("fields", fmt.Sprintf("field %q: %v", name, err))
		}
		s.fields = append(s.fields, fieldTmpl{name: name, r: r})
	}
	if k := cfg.String("key"); k != "" {
		if s.key, err = newRenderer("key", k, fm); err != nil {
			return nil, configError("key", err.Error())
		}
	}
	return s, nil
}

// Open continues after the stored count.
func (s *Source) Open(ctx context.Context, pos sdk.Position) error {
	if len(pos) > 0 {
		n, err := strconv.ParseInt(string(pos), 10, 64)
		if err != nil || n < 0 {
			return sdk.Fatal(fmt.Errorf("generator: stored position %q is not a record count", pos))
		}
		s.n = n
	}
	s.startN, s.startTime = s.n, time.Now()
	return ctx.Err()
}

// Read makes the next batch, waiting as the rate requires.
func (s *Source) Read(ctx context.Context) ([]sdk.Record, error) {
	want := s.batch
	if s.count > 0 {
		if s.n >= s.count {
			return nil, sdk.ErrEndOfInput
		}
		want = min(want, s.count-s.n)
	}
	if s.rate > 0 {
		due, err := s.waitDue(ctx)
		if err != nil {
			return nil, err
		}
		want = min(want, due)
	}
	return s.make(want)
}

// waitDue waits until at least one record is due and says how many are.
func (s *Source) waitDue(ctx context.Context) (int64, error) {
	for {
		elapsed := time.Since(s.startTime).Seconds()
		due := int64(elapsed*s.rate) + 1 - (s.n - s.startN)
		if due > 0 {
			return due, nil
		}
		next := s.startTime.Add(time.Duration(float64(s.n-s.startN) / s.rate * float64(time.Second)))
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Source) make(want int64) ([]sdk.Record, error) {
	recs := make([]sdk.Record, want)
	per := int64(32)
	if s.value != nil {
		per += max(s.size, int64(len(s.value.fast))+24)
	}
	arena := make([]byte, 0, want*per)
	now := time.Now()
	s.data.Now = now
	for i := range recs {
		s.n++
		s.data.N = s.n
		r := &recs[i]
		r.Timestamp = now
		var err error
		if s.key != nil {
			start := len(arena)
			if arena, err = s.render(s.key, arena); err != nil {
				return nil, err
			}
			r.Key = arena[start:len(arena):len(arena)]
		}
		if s.value != nil {
			start := len(arena)
			if arena, err = s.render(s.value, arena); err != nil {
				return nil, err
			}
			if pad := s.size - int64(len(arena)-start); pad > 0 {
				arena = append(arena, s.spaces[:pad]...)
			}
			r.Value = arena[start:len(arena):len(arena)]
		} else if r.Fields, err = s.structured(); err != nil {
			return nil, err
		}
		start := len(arena)
		arena = strconv.AppendInt(arena, s.n, 10)
		r.Position = arena[start:len(arena):len(arena)]
	}
	return recs, nil
}

// render appends one template's output for the current record. Appending
// past the arena's capacity moves it, which is fine: earlier records keep
// slices of the old array.
func (s *Source) render(r *renderer, dst []byte) ([]byte, error) {
	if r.fast != nil {
		return r.appendFast(dst, s.n), nil
	}
	s.pcg.Seed(s.seed, uint64(s.n))
	s.buf.Reset()
	if err := r.t.Execute(&s.buf, &s.data); err != nil {
		return dst, sdk.Fatal(fmt.Errorf("generator: record %d: %w", s.n, err))
	}
	return append(dst, s.buf.Bytes()...), nil
}

func (s *Source) structured() (map[string]any, error) {
	m := make(map[string]any, len(s.fields))
	s.pcg.Seed(s.seed, uint64(s.n))
	for _, f := range s.fields {
		s.buf.Reset()
		if err := f.r.t.Execute(&s.buf, &s.data); err != nil {
			return nil, sdk.Fatal(fmt.Errorf("generator: record %d field %q: %w", s.n, f.name, err))
		}
		m[f.name] = fieldValue(s.buf.Bytes())
	}
	return m, nil
}

func fieldValue(b []byte) any {
	if len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || b[0] == 't' || b[0] == 'f' || b[0] == 'n') {
		var v any
		if err := json.Unmarshal(b, &v); err == nil {
			if _, isStr := v.(string); !isStr {
				return v
			}
		}
	}
	return string(b)
}

// Ack has nothing to do: the position is the count itself.
func (s *Source) Ack(context.Context, sdk.Position) error { return nil }

// Close has nothing to release.
func (s *Source) Close(context.Context) error { return nil }

// renderer is a parsed template; fast is set when the template only
// interpolates {{.N}}: literal chunks with the number between them.
type renderer struct {
	t    *template.Template
	fast [][]byte
}

func newRenderer(name, text string, fm template.FuncMap) (*renderer, error) {
	t, err := template.New(name).Funcs(fm).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	r := &renderer{t: t}
	var chunks [][]byte
	cur := []byte{}
	for _, node := range t.Tree.Root.Nodes {
		switch n := node.(type) {
		case *parse.TextNode:
			cur = append(cur, n.Text...)
			continue
		case *parse.ActionNode:
			if isFieldN(n) {
				chunks = append(chunks, cur)
				cur = []byte{}
				continue
			}
		}
		return r, nil // anything else: the template engine does it
	}
	r.fast = append(chunks, cur)
	return r, nil
}

func isFieldN(n *parse.ActionNode) bool {
	if len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 || len(n.Pipe.Cmds[0].Args) != 1 {
		return false
	}
	f, ok := n.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	return ok && len(f.Ident) == 1 && f.Ident[0] == "N"
}

func (r *renderer) appendFast(dst []byte, n int64) []byte {
	for i, c := range r.fast {
		if i > 0 {
			dst = strconv.AppendInt(dst, n, 10)
		}
		dst = append(dst, c...)
	}
	return dst
}
