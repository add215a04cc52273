// Package registry is Braid's schema registry: subjects, versions and global
// schema ids for Avro, Protobuf and JSON Schema, with Confluent Schema
// Registry's compatibility levels, modes, soft and hard deletes, references and
// its REST API (see Handler), so existing Confluent serializers and clients work
// against Braid unchanged.
//
// All state lives in a Store: in production a JetStream KV bucket (the runtime
// adapts *runtime/log.KV to Store), so several workers share one registry and
// it survives restarts. Schema ids come from a compare-and-set counter and are
// never reused; the same schema written differently (whitespace, key order,
// comments) normalises to the same id.
package registry
