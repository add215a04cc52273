package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
	"github.com/braidhq/braid/schema"
)

// Protocol is the version of the plugin protocol this package speaks. A
// different major version is refused at the handshake.
// Minor 1 added Record.error (a source's unparsable input).
var Protocol = &pb.Version{Major: 1, Minor: 1}

// toValue encodes a setting or a record field.
func toValue(v any) *pb.Value {
	switch x := v.(type) {
	case nil:
		return &pb.Value{Kind: &pb.Value_Null{Null: true}}
	case bool:
		return &pb.Value{Kind: &pb.Value_Bool{Bool: x}}
	case int:
		return &pb.Value{Kind: &pb.Value_Int{Int: int64(x)}}
	case int8:
		return &pb.Value{Kind: &pb.Value_Int{Int: int64(x)}}
	case int16:
		return &pb.Value{Kind: &pb.Value_Int{Int: int64(x)}}
	case int32:
		return &pb.Value{Kind: &pb.Value_Int{Int: int64(x)}}
	case int64:
		return &pb.Value{Kind: &pb.Value_Int{Int: x}}
	case uint:
		return &pb.Value{Kind: &pb.Value_Uint{Uint: uint64(x)}}
	case uint8:
		return &pb.Value{Kind: &pb.Value_Uint{Uint: uint64(x)}}
	case uint16:
		return &pb.Value{Kind: &pb.Value_Uint{Uint: uint64(x)}}
	case uint32:
		return &pb.Value{Kind: &pb.Value_Uint{Uint: uint64(x)}}
	case uint64:
		return &pb.Value{Kind: &pb.Value_Uint{Uint: x}}
	case float32:
		return &pb.Value{Kind: &pb.Value_Float{Float: float64(x)}}
	case float64:
		return &pb.Value{Kind: &pb.Value_Float{Float: x}}
	case string:
		return &pb.Value{Kind: &pb.Value_String_{String_: x}}
	case []byte:
		return &pb.Value{Kind: &pb.Value_Bytes{Bytes: x}}
	case time.Time:
		return &pb.Value{Kind: &pb.Value_TimestampNanos{TimestampNanos: x.UnixNano()}}
	case time.Duration:
		return &pb.Value{Kind: &pb.Value_DurationNanos{DurationNanos: int64(x)}}
	case schema.Decimal:
		return &pb.Value{Kind: &pb.Value_Decimal{Decimal: string(x)}}
	case json.Number:
		return &pb.Value{Kind: &pb.Value_Decimal{Decimal: string(x)}}
	case []any:
		l := &pb.List{Items: make([]*pb.Value, len(x))}
		for i, e := range x {
			l.Items[i] = toValue(e)
		}
		return &pb.Value{Kind: &pb.Value_List{List: l}}
	case []string:
		l := &pb.List{Items: make([]*pb.Value, len(x))}
		for i, e := range x {
			l.Items[i] = toValue(e)
		}
		return &pb.Value{Kind: &pb.Value_List{List: l}}
	case map[string]any:
		return &pb.Value{Kind: &pb.Value_Map{Map: toMap(x)}}
	case map[string]string:
		m := &pb.Map{Entries: make(map[string]*pb.Value, len(x))}
		for k, e := range x {
			m.Entries[k] = toValue(e)
		}
		return &pb.Value{Kind: &pb.Value_Map{Map: m}}
	}
	// Anything else (a driver's own type) goes as its text.
	return &pb.Value{Kind: &pb.Value_String_{String_: fmt.Sprint(v)}}
}

func toMap(m map[string]any) *pb.Map {
	if m == nil {
		return nil
	}
	out := &pb.Map{Entries: make(map[string]*pb.Value, len(m))}
	for k, v := range m {
		out.Entries[k] = toValue(v)
	}
	return out
}

// fromValue decodes a Value into the Go types the SDK uses.
func fromValue(v *pb.Value) any {
	switch x := v.GetKind().(type) {
	case *pb.Value_Bool:
		return x.Bool
	case *pb.Value_Int:
		return x.Int
	case *pb.Value_Uint:
		return x.Uint
	case *pb.Value_Float:
		return x.Float
	case *pb.Value_String_:
		return x.String_
	case *pb.Value_Bytes:
		return x.Bytes
	case *pb.Value_TimestampNanos:
		return time.Unix(0, x.TimestampNanos).UTC()
	case *pb.Value_DurationNanos:
		return time.Duration(x.DurationNanos)
	case *pb.Value_Decimal:
		return schema.Decimal(x.Decimal)
	case *pb.Value_List:
		out := make([]any, len(x.List.GetItems()))
		for i, e := range x.List.GetItems() {
			out[i] = fromValue(e)
		}
		return out
	case *pb.Value_Map:
		return fromMap(x.Map)
	}
	return nil
}

func fromMap(m *pb.Map) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m.Entries))
	for k, v := range m.Entries {
		out[k] = fromValue(v)
	}
	return out
}

func valueOrNil(v any) *pb.Value {
	if v == nil {
		return nil
	}
	return toValue(v)
}

func anyOrNil(v *pb.Value) any {
	if v == nil {
		return nil
	}
	return fromValue(v)
}

// toSpec encodes a spec; capabilities are the serve side's to fill in.
func toSpec(s sdk.Spec) *pb.Spec {
	out := &pb.Spec{Name: s.Name, Kind: string(s.Kind), Summary: s.Summary, Doc: s.Doc,
		Version: s.Version, MaxTasks: int32(s.MaxTasks), HasCheck: s.Check != nil}
	for _, f := range s.Fields {
		out.HasCheck = out.HasCheck || f.Check != nil
		out.Fields = append(out.Fields, &pb.Field{Name: f.Name, Type: string(f.Type), Default: valueOrNil(f.Default),
			Required: f.Required, Secret: f.Secret, Path: f.Path, Doc: f.Doc, Enum: f.Enum, Example: f.Example,
			Placeholders: f.Placeholders, Min: valueOrNil(f.Min), Max: valueOrNil(f.Max)})
	}
	return out
}

// fromSpec decodes a spec; the plugin's own checks become a call to
// Validate, which the host installs as Check.
func fromSpec(s *pb.Spec) sdk.Spec {
	out := sdk.Spec{Name: s.Name, Kind: sdk.Kind(s.Kind), Summary: s.Summary, Doc: s.Doc,
		Version: s.Version, MaxTasks: int(s.MaxTasks)}
	for _, f := range s.Fields {
		out.Fields = append(out.Fields, sdk.Field{Name: f.Name, Type: sdk.FieldType(f.Type), Default: anyOrNil(f.Default),
			Required: f.Required, Secret: f.Secret, Path: f.Path, Doc: f.Doc, Enum: f.Enum, Example: f.Example,
			Placeholders: f.Placeholders, Min: anyOrNil(f.Min), Max: anyOrNil(f.Max)})
	}
	return out
}

// configValues turns a validated Config back into raw settings for the
// plugin, which validates them again with its own spec.
func configValues(spec sdk.Spec, cfg sdk.Config) map[string]*pb.Value {
	out := map[string]*pb.Value{}
	for _, f := range spec.Fields {
		if cfg.Has(f.Name) {
			out[f.Name] = toValue(cfg.Any(f.Name))
		}
	}
	return out
}

func rawConfig(m map[string]*pb.Value) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = fromValue(v)
	}
	return out
}

func toFieldErrors(fes []sdk.FieldError) []*pb.FieldError {
	out := make([]*pb.FieldError, len(fes))
	for i, fe := range fes {
		out[i] = &pb.FieldError{Field: fe.Field, Message: fe.Message}
	}
	return out
}

func fromFieldErrors(fes []*pb.FieldError) []sdk.FieldError {
	out := make([]sdk.FieldError, len(fes))
	for i, fe := range fes {
		out[i] = sdk.FieldError{Field: fe.Field, Message: fe.Message}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// toError encodes a connector's error with its kind, nil for nil.
func toError(err error) *pb.Error {
	if err == nil {
		return nil
	}
	out := &pb.Error{Message: err.Error()}
	var be *sdk.BatchError
	var ce *sdk.ConfigError
	var bo *sdk.BackoffError
	switch {
	case errors.As(err, &be):
		out.Kind = pb.Error_KIND_BATCH
		for _, r := range be.Records {
			out.RecordErrors = append(out.RecordErrors, &pb.RecordError{Index: int32(r.Index), Message: r.Err.Error()})
		}
	case errors.As(err, &ce):
		out.Kind, out.FieldErrors = pb.Error_KIND_INVALID_CONFIG, toFieldErrors(ce.Errors)
	case errors.Is(err, sdk.ErrEndOfInput):
		out.Kind = pb.Error_KIND_END_OF_INPUT
	case errors.As(err, &bo):
		out.Kind, out.BackoffNanos = pb.Error_KIND_BACKOFF, int64(bo.Wait)
		if bo.Err != nil {
			out.Message = bo.Err.Error()
		}
	case errors.Is(err, sdk.ErrBackoff):
		out.Kind = pb.Error_KIND_BACKOFF
	case sdk.IsFatal(err):
		out.Kind = pb.Error_KIND_FATAL
	case sdk.IsRetryable(err):
		out.Kind = pb.Error_KIND_RETRYABLE
	}
	return out
}

// fromError decodes an error the plugin reported, nil for nil. connector
// names the plugin's connector in a config error.
func fromError(e *pb.Error, connector string) error {
	if e == nil {
		return nil
	}
	err := errors.New(e.Message)
	switch e.Kind {
	case pb.Error_KIND_BATCH:
		be := &sdk.BatchError{}
		for _, r := range e.RecordErrors {
			be.Records = append(be.Records, sdk.RecordError{Index: int(r.Index), Err: errors.New(r.Message)})
		}
		return be
	case pb.Error_KIND_INVALID_CONFIG:
		return &sdk.ConfigError{Connector: connector, Errors: fromFieldErrors(e.FieldErrors)}
	case pb.Error_KIND_END_OF_INPUT:
		return sdk.ErrEndOfInput
	case pb.Error_KIND_BACKOFF:
		if e.BackoffNanos > 0 {
			return &sdk.BackoffError{Wait: time.Duration(e.BackoffNanos), Err: err}
		}
		return sdk.ErrBackoff
	case pb.Error_KIND_FATAL:
		return sdk.Fatal(err)
	case pb.Error_KIND_RETRYABLE:
		return sdk.Retryable(err)
	}
	return err
}

// toBatch encodes records; schemas are marshalled once per distinct pointer.
func toBatch(recs []sdk.Record) *pb.Batch {
	b := &pb.Batch{Records: make([]*pb.Record, len(recs))}
	var lastSchema *schema.Schema
	var lastJSON []byte
	// One allocation for the batch's messages instead of one per record.
	msgs := make([]pb.Record, len(recs))
	for i := range recs {
		r := &recs[i]
		pr := &msgs[i]
		pr.Topic, pr.Partition, pr.Offset, pr.Key, pr.Value = r.Topic, r.Partition, r.Offset, r.Key, r.Value
		pr.Position, pr.Op, pr.Before, pr.Fields = r.Position, string(r.Op), toMap(r.Before), toMap(r.Fields)
		if !r.Timestamp.IsZero() {
			pr.TimestampNanos = r.Timestamp.UnixNano()
		}
		if r.Err != nil {
			pr.Error = r.Err.Error()
		}
		if len(r.Headers) > 0 {
			pr.Headers = make([]*pb.Header, len(r.Headers))
			for j, h := range r.Headers {
				pr.Headers[j] = &pb.Header{Key: h.Key, Value: h.Value}
			}
		}
		if r.Schema != nil {
			if r.Schema != lastSchema {
				lastSchema = r.Schema
				lastJSON, _ = json.Marshal(r.Schema)
			}
			pr.SchemaJson = lastJSON
		}
		b.Records[i] = pr
	}
	return b
}

// fromBatch decodes records; equal schemas in a row share one *schema.Schema.
func fromBatch(b *pb.Batch) ([]sdk.Record, error) {
	recs := b.GetRecords()
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]sdk.Record, len(recs))
	var lastJSON string
	var lastSchema *schema.Schema
	for i, pr := range recs {
		r := sdk.Record{Topic: pr.Topic, Partition: pr.Partition, Offset: pr.Offset, Key: pr.Key, Value: pr.Value,
			Op: sdk.Operation(pr.Op), Before: fromMap(pr.Before), Fields: fromMap(pr.Fields)}
		if len(pr.Position) > 0 {
			r.Position = sdk.Position(pr.Position)
		}
		if pr.TimestampNanos != 0 {
			r.Timestamp = time.Unix(0, pr.TimestampNanos).UTC()
		}
		if pr.Error != "" {
			r.Err = errors.New(pr.Error)
		}
		if len(pr.Headers) > 0 {
			r.Headers = make(sdk.Headers, len(pr.Headers))
			for j, h := range pr.Headers {
				r.Headers[j] = sdk.Header{Key: h.Key, Value: h.Value}
			}
		}
		if len(pr.SchemaJson) > 0 {
			if string(pr.SchemaJson) != lastJSON {
				s := &schema.Schema{}
				if err := json.Unmarshal(pr.SchemaJson, s); err != nil {
					return nil, fmt.Errorf("record %d: schema: %w", i, err)
				}
				lastJSON, lastSchema = string(pr.SchemaJson), s
			}
			r.Schema = lastSchema
		}
		out[i] = r
	}
	return out, nil
}
