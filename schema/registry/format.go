package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Parsed is a schema parsed and validated by its format.
type Parsed interface {
	// Format is the schema's language.
	Format() Format
	// Canonical is the normalised form: two schemas that differ only in
	// whitespace, key order or comments have the same canonical form.
	Canonical() string
}

// resolvedRef is a referenced schema with its text, in dependency order.
type resolvedRef struct {
	Name   string
	Schema Schema
}

// parse validates a schema of any format against its resolved references.
func parse(s Schema, refs []resolvedRef) (Parsed, error) {
	if err := checkSchemaSize(s, refs); err != nil {
		return nil, err
	}
	switch s.format() {
	case Avro:
		return parseAvro(s.Schema, refs)
	case Protobuf:
		return parseProtobuf(s.Schema, refs)
	case JSON:
		return parseJSONSchema(s.Schema, refs)
	}
	return nil, fmt.Errorf("unknown schema type %q", s.Type)
}

// compatible lists the reasons data written with writer cannot be read with
// reader; none means compatible. It spends from b, and stops early (with
// reasons that may be incomplete) once b is exceeded.
func compatible(reader, writer Parsed, b *budget) []string {
	if reader.Format() != writer.Format() {
		return []string{fmt.Sprintf("SCHEMA_TYPE_CHANGED: schema type changed from %s to %s",
			writer.Format(), reader.Format())}
	}
	switch r := reader.(type) {
	case *avroSchema:
		return avroCompatible(r, writer.(*avroSchema), b)
	case *protoSchema:
		return protoCompatible(r, writer.(*protoSchema), b)
	case *jsonSchema:
		return jsonCompatible(r, writer.(*jsonSchema), b)
	}
	return []string{fmt.Sprintf("no compatibility rules for %s", reader.Format())}
}

// canonicalJSON re-encodes a JSON document with sorted keys and no
// insignificant whitespace; simplify may rewrite values on the way.
func canonicalJSON(text string, simplify func(any) any) (string, any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if dec.More() {
		return "", nil, fmt.Errorf("not valid JSON: data after the document")
	}
	if simplify != nil {
		v = simplify(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", nil, err
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n")), v, nil
}
