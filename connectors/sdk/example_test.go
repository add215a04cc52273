package sdk_test

import (
	"errors"
	"fmt"

	"github.com/braidhq/braid/connectors/sdk"
)

// A connector declares its settings once; the spec validates a pipeline's
// config, applies defaults and names the field of every mistake.
func ExampleSpec_Validate() {
	spec := sdk.Spec{
		Name: "greeter", Kind: sdk.KindSource, Summary: "Says hello.",
		Fields: []sdk.Field{
			{Name: "name", Type: sdk.TypeString, Required: true, Doc: "Who to greet."},
			{Name: "every", Type: sdk.TypeDuration, Default: "1s", Doc: "How often."},
			{Name: "token", Type: sdk.TypeString, Secret: true, Doc: "API token."},
		},
	}
	cfg, err := spec.Validate(map[string]any{"name": "world", "token": "s3cret"})
	fmt.Println(cfg.String("name"), cfg.Duration("every"), err)

	_, err = spec.Validate(map[string]any{"nmae": "world", "every": "soon"})
	fmt.Println(errors.Is(err, sdk.ErrInvalidConfig))
	fmt.Println(err)

	fmt.Println(spec.Redact(map[string]any{"name": "world", "token": "s3cret"}))
	// Output:
	// world 1s <nil>
	// true
	// connector greeter: every: must be a duration like 5s or 1h30m, not "soon"; name: required setting is missing; nmae: unknown setting (did you mean "name"?)
	// map[name:world token:[hidden]]
}

// A source and a sink may share a name; the kind picks one.
func ExamplePlugins_Lookup() {
	plugins := sdk.Plugins{
		{Spec: sdk.Spec{Name: "file", Kind: sdk.KindSource}},
		{Spec: sdk.Spec{Name: "file", Kind: sdk.KindSink}},
	}
	p, ok := plugins.Lookup(sdk.KindSink, "file")
	fmt.Println(p.Spec.Kind, ok)
	_, ok = plugins.Lookup(sdk.KindSource, "parquet")
	fmt.Println(ok)
	// Output:
	// sink true
	// false
}

// Sinks reject single records with a BatchError; the worker sends just those
// to the dead-letter topic and keeps the rest.
func ExampleBatchError() {
	err := error(&sdk.BatchError{Records: []sdk.RecordError{{Index: 2, Err: errors.New("amount is not a number")}}})
	var be *sdk.BatchError
	fmt.Println(errors.As(err, &be), be.Records[0].Index, err)
	// Output:
	// true 2 records failed: record 2: amount is not a number
}

// A source that cannot parse its input hands the raw bytes over with Err
// set, in order with the good records, instead of dropping them: the worker
// sends that record to the dead-letter topic (stage "source") under
// errors.tolerance all, and fails the task with Err under none.
func ExampleRecord_Err() {
	parse := func(line string, pos int) sdk.Record {
		rec := sdk.Record{Value: []byte(line), Position: sdk.Position(fmt.Sprint(pos))}
		if len(line) == 0 || line[0] != '{' {
			rec.Err = fmt.Errorf("line %d of orders.txt is not a JSON object", pos)
		}
		return rec
	}
	for i, line := range []string{`{"id":1}`, `id=2`} {
		rec := parse(line, i+1)
		fmt.Printf("%s %v\n", rec.Value, rec.Err)
	}
	// Output:
	// {"id":1} <nil>
	// id=2 line 2 of orders.txt is not a JSON object
}
