package transform

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/braidhq/braid/connectors/sdk"
)

// env is what an expression sees. The value map is decoded only when the
// expression mentions `value`, so a filter on headers or topic keeps records raw.
type env struct {
	Value     map[string]any    `expr:"value"`
	Key       string            `expr:"key"`
	Headers   map[string]string `expr:"headers"`
	Topic     string            `expr:"topic"`
	Partition int               `expr:"partition"`
	Offset    int64             `expr:"offset"`
	Timestamp time.Time         `expr:"timestamp"`
}

// program is one compiled expression, safe for concurrent use.
type program struct {
	typ       string
	prog      *vm.Program
	needValue bool
	vms       sync.Pool
}

// compile compiles an expression once, at New; field names the setting it
// came from, for the config error.
func compile(typ, field, code string, result expr.Option) (*program, error) {
	if strings.TrimSpace(code) == "" {
		return nil, configError(typ, field, "expression is empty")
	}
	prog, err := expr.Compile(code, expr.Env(env{}), result)
	if err != nil {
		return nil, configError(typ, field, "cannot compile %q: %s", code, oneLine(err))
	}
	p := &program{typ: typ, prog: prog}
	p.vms.New = func() any { return &vm.VM{} }
	node := prog.Node()
	ast.Walk(&node, usesValue{&p.needValue})
	return p, nil
}

// oneLine renders an expr error without its source snippet, so it fits a
// log line or a dead-letter header.
func oneLine(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Sprintf("%s (column %d)", fe.Message, fe.Column+1)
	}
	return err.Error()
}

type usesValue struct{ found *bool }

func (u usesValue) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && id.Value == "value" {
		*u.found = true
	}
}

// run evaluates the expression against rec; a failure is a record error.
func (p *program) run(rec *sdk.Record) (any, error) {
	e := env{
		Key: string(rec.Key), Topic: rec.Topic, Partition: int(rec.Partition),
		Offset: rec.Offset, Timestamp: rec.Timestamp,
	}
	if len(rec.Headers) > 0 {
		e.Headers = make(map[string]string, len(rec.Headers))
		for _, h := range rec.Headers {
			e.Headers[h.Key] = h.Value // the last value of a repeated key wins, as Headers.Get
		}
	}
	if p.needValue {
		m, err := rec.Structured()
		if err != nil {
			return nil, recordError(p.typ, rec, err)
		}
		e.Value = m
	}
	machine := p.vms.Get().(*vm.VM)
	out, err := machine.Run(p.prog, e)
	p.vms.Put(machine)
	if err != nil {
		return nil, recordError(p.typ, rec, fmt.Errorf("expression %q: %s", p.prog.Source().String(), oneLine(err)))
	}
	return out, nil
}

var filterEntry = entry{
	spec: sdk.Spec{
		Name: "filter", Kind: sdk.KindTransform,
		Summary: "Keeps only records for which an expression is true.",
		Doc: "The expression (expr-lang syntax) sees value, key, headers, topic, partition, offset and timestamp. " +
			"Comparing a missing field fails the record; write `(value.amount ?? 0) > 1000` to treat it as 0.",
		Fields: []sdk.Field{{Name: "expression", Type: sdk.TypeString, Required: true,
			Doc: "Boolean expression; true keeps the record.", Example: "value.amount > 1000"}},
	},
	shorthand: "expression",
	build: func(cfg sdk.Config) (Transform, error) {
		p, err := compile("filter", "expression", cfg.String("expression"), expr.AsBool())
		if err != nil {
			return nil, err
		}
		return &filter{p}, nil
	},
}

type filter struct{ p *program }

func (t *filter) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	out, err := t.p.run(rec)
	if err != nil {
		return false, err
	}
	keep, ok := out.(bool)
	if !ok {
		return false, recordError("filter", rec, fmt.Errorf("expression %q gave %s, not true or false", t.p.prog.Source().String(), describe(out)))
	}
	return keep, nil
}

var routeEntry = entry{
	spec: sdk.Spec{
		Name: "route", Kind: sdk.KindTransform,
		Summary: "Sends records to another topic.",
		Doc: "Either expression, whose string result is the topic (`\"orders-\" + value.region`), or condition " +
			"and topic: records for which condition is true go to topic, the others keep theirs. An empty topic " +
			"name is a record error.",
		Fields: []sdk.Field{
			{Name: "expression", Type: sdk.TypeString, Doc: "String expression giving the topic name.", Example: `"orders-" + value.region`},
			{Name: "condition", Type: sdk.TypeString, Doc: "Boolean expression; used with topic.", Example: "value.amount > 1000"},
			{Name: "topic", Type: sdk.TypeString, Doc: "Topic for records matching condition.", Example: "big-orders"},
		},
	},
	shorthand: "expression",
	build:     newRoute,
}

type route struct {
	name      *program // expression form
	condition *program // condition form
	topic     string
}

func newRoute(cfg sdk.Config) (Transform, error) {
	code, cond, topic := cfg.String("expression"), cfg.String("condition"), cfg.String("topic")
	switch {
	case code != "" && (cond != "" || topic != ""):
		return nil, configError("route", "expression", "give either expression, or condition and topic, not both")
	case code != "":
		p, err := compile("route", "expression", code, expr.AsKind(reflect.String))
		if err != nil {
			return nil, err
		}
		return &route{name: p}, nil
	case cond == "" && topic == "":
		return nil, configError("route", "expression", "give expression, or condition and topic")
	case cond == "":
		return nil, configError("route", "condition", "required with topic")
	case topic == "":
		return nil, configError("route", "topic", "required with condition")
	}
	p, err := compile("route", "condition", cond, expr.AsBool())
	if err != nil {
		return nil, err
	}
	return &route{condition: p, topic: topic}, nil
}

func (t *route) Apply(_ context.Context, rec *sdk.Record) (bool, error) {
	if t.condition != nil {
		out, err := t.condition.run(rec)
		if err != nil {
			return false, err
		}
		if match, ok := out.(bool); !ok {
			return false, recordError("route", rec, fmt.Errorf("condition %q gave %s, not true or false", t.condition.prog.Source().String(), describe(out)))
		} else if match {
			rec.Topic = t.topic
		}
		return true, nil
	}
	out, err := t.name.run(rec)
	if err != nil {
		return false, err
	}
	topic, ok := out.(string)
	if !ok {
		return false, recordError("route", rec, fmt.Errorf("expression %q gave %s, not a topic name", t.name.prog.Source().String(), describe(out)))
	}
	if topic == "" {
		return false, recordError("route", rec, fmt.Errorf("expression %q gave an empty topic name", t.name.prog.Source().String()))
	}
	rec.Topic = topic
	return true, nil
}
