package api

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/serde"
	"github.com/braidhq/braid/schema/wire"
)

// SchemaRef names the registered schema a key or value was framed with
// (Confluent's wire format: magic byte 0, then the schema id).
type SchemaRef struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Subject string `json:"subject,omitempty"`
	Version int    `json:"version,omitempty"`
}

// maxDecodeSchemas bounds the schemas one page of records may look up.
const maxDecodeSchemas = 32

// recordDecoder decodes registry-framed bytes for one records page, with
// the converters the worker uses (schema/serde), caching per schema id.
type recordDecoder struct {
	reg   *registry.Registry
	convs map[string]*serde.Converter
	refs  map[int]*SchemaRef // nil: the id is unknown
}

func newRecordDecoder(reg *registry.Registry) *recordDecoder {
	return &recordDecoder{reg: reg, convs: map[string]*serde.Converter{}, refs: map[int]*SchemaRef{}}
}

// formats maps the registry's schema types onto serde's converter names.
var formats = map[registry.Format]string{registry.Avro: "avro", registry.Protobuf: "protobuf", registry.JSON: "jsonschema"}

// decode returns b decoded as JSON and its schema when b is framed with a
// schema id the registry knows; (nil, nil, nil) when it is not framed.
func (d *recordDecoder) decode(ctx context.Context, topic string, b []byte) (any, *SchemaRef, error) {
	if d == nil || d.reg == nil || len(b) < wire.HeaderSize || b[0] != wire.MagicByte {
		return nil, nil, nil
	}
	id, _, err := wire.Parse(b)
	if err != nil {
		return nil, nil, nil
	}
	ref, seen := d.refs[id]
	if !seen {
		if len(d.refs) >= maxDecodeSchemas {
			return nil, nil, fmt.Errorf("more than %d schemas on one page: ask for fewer records", maxDecodeSchemas)
		}
		ref = d.lookup(ctx, id)
		d.refs[id] = ref
	}
	if ref == nil {
		return nil, nil, nil // a 0 byte that is not a schema id
	}
	name := formats[registry.Format(ref.Type)]
	conv := d.convs[name]
	if conv == nil {
		if conv, err = serde.New(d.reg, name, serde.Options{}); err != nil {
			return nil, ref, err
		}
		d.convs[name] = conv
	}
	v, _, err := conv.Decode(ctx, topic, b)
	if err != nil {
		return nil, ref, err
	}
	// Only what JSON can show: a value that does not marshal is an error.
	data, err := json.Marshal(v)
	if err != nil {
		return nil, ref, fmt.Errorf("decoded %s value does not convert to JSON: %w", name, err)
	}
	return json.RawMessage(data), ref, nil
}

func (d *recordDecoder) lookup(ctx context.Context, id int) *SchemaRef {
	st, err := d.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil
	}
	ref := &SchemaRef{ID: id, Type: string(st.Type)}
	if ref.Type == "" {
		ref.Type = string(registry.Avro)
	}
	if _, ok := formats[registry.Format(ref.Type)]; !ok {
		return nil
	}
	if vs, err := d.reg.VersionsOfID(ctx, id); err == nil && len(vs) > 0 {
		ref.Subject, ref.Version = vs[0].Subject, vs[0].Version
	}
	return ref
}
