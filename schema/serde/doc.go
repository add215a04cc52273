// Package serde holds the schema-registry converters: avro, protobuf and
// jsonschema. Each implements schema/convert.Converter over Confluent's wire
// format (schema/wire), so records interoperate with Confluent serializers.
//
// Decoding reads the schema id from the record, fetches and compiles that
// schema once, and turns the payload into map[string]any plus a
// *schema.Schema (so sinks can create tables). Encoding picks the subject by
// strategy (topic, record, topic-record), registers the schema when
// auto-registration is on (or looks it up, or uses the subject's latest
// version), and caches the id: there is no registry round trip per record.
//
// Factories returns the three converter factories for explicit registration.
package serde
