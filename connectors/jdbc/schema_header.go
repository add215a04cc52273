package jdbc

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// HeaderSchema is the record header in which jdbc-source sends the JSON of
// its table's *schema.Schema. A converter such as json keeps only the
// values, so without it a sink reading the topic would see a decimal as a
// float and a timestamp as text; jdbc-sink reads the header when a record has
// no Schema and creates exact column types (DECIMAL(p,s), DATETIME(6),
// timestamptz, ...) and converts the values back (base64 text to bytes,
// RFC 3339 text to times, numbers to exact decimals).
const HeaderSchema = "braid.schema"

// schemaHeader renders a table's schema for HeaderSchema once per table.
func schemaHeader(s *schema.Schema) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// headerSchemas caches decoded HeaderSchema values by their text, so records
// of one table share one *schema.Schema (the sink's layout cache compares
// pointers) and the JSON is decoded once.
type headerSchemas map[string]*schema.Schema

// maxHeaderSchemas bounds the cache; a source's schema text changes only when
// its table changes, so a few entries per table are plenty.
const maxHeaderSchemas = 256

// lookup returns the schema in rec's HeaderSchema header, or nil without one.
func (hs *headerSchemas) lookup(rec *sdk.Record) (*schema.Schema, error) {
	text, ok := rec.Headers.Get(HeaderSchema)
	if !ok {
		return nil, nil
	}
	if s, ok := (*hs)[text]; ok {
		return s, nil
	}
	s := new(schema.Schema)
	if err := json.Unmarshal([]byte(text), s); err != nil {
		return nil, fmt.Errorf("header %s is not a schema: %w", HeaderSchema, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("header %s: %w", HeaderSchema, err)
	}
	if *hs == nil || len(*hs) >= maxHeaderSchemas {
		*hs = make(headerSchemas)
	}
	(*hs)[text] = s
	return s, nil
}

// fromText converts a value that went through a text format (JSON) back to
// the Go type its schema field promises. Values already of the right type,
// and values it cannot convert, are returned as they are (the database then
// judges them).
func fromText(v any, f *schema.Field) (any, error) {
	switch f.Type {
	case schema.Bytes:
		if s, ok := v.(string); ok {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("field %q: bytes are not base64: %w", f.Name, err)
			}
			return b, nil
		}
	case schema.Timestamp, schema.Date:
		if s, ok := v.(string); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			return t, nil
		}
	case schema.DecimalT:
		switch x := v.(type) {
		case float64:
			return schema.Decimal(strconv.FormatFloat(x, 'f', -1, 64)), nil
		case int64:
			return schema.Decimal(strconv.FormatInt(x, 10)), nil
		case string:
			return schema.Decimal(x), nil
		}
	case schema.Float32, schema.Float64:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case schema.Decimal:
			return strconv.ParseFloat(string(x), 64)
		}
	}
	return v, nil
}

// applyHeaderSchema gives a record without a Schema the one in its
// HeaderSchema header, converting its decoded values to the schema's types.
func (s *sink) applyHeaderSchema(rec *sdk.Record) error {
	if rec.Schema != nil || len(rec.Headers) == 0 {
		return nil
	}
	sch, err := s.headerSchemas.lookup(rec)
	if sch == nil || err != nil {
		return err
	}
	value, err := rec.Structured()
	if err != nil {
		return err
	}
	for i := range sch.Fields {
		f := &sch.Fields[i]
		if v, ok := value[f.Name]; ok && v != nil {
			if value[f.Name], err = fromText(v, f); err != nil {
				return err
			}
		}
	}
	rec.Schema = sch
	return nil
}
