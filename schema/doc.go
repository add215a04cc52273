// Package schema holds Braid's structured data model: the field types a record's
// value can have and the Schema that names them. The registry (schema/registry),
// the formats (Avro, Protobuf, JSON Schema) and the converters (schema/convert)
// build on these types; connectors see only them.
//
// Structured values are plain Go values: nil, bool, int64, float64, string,
// []byte, time.Time, Decimal, map[string]any and []any. Decimals stay exact as
// their decimal string.
package schema
