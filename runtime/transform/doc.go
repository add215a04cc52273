// Package transform holds Braid's single-record transforms: small steps a
// pipeline applies to each record between the log and a sink (or between a
// source and the log). Each transform changes a record in place, may drop it
// (filter) or send it to another topic (route).
//
// Every transform declares an sdk.Spec (kind "transform"), so pipeline files
// are validated and documented from the same data as connectors. Build one
// with New from a validated config, or a whole chain with Build from the
// pipeline's `transforms:` list.
//
// Transforms that need a record's fields call Record.Structured, which decodes
// JSON only when the worker's converter has not set Fields yet; after changing
// Fields they set Value to nil so the worker encodes the bytes again, and keep
// Record.Schema in step (a copy; schemas may be shared between records).
//
// Errors: a bad setting is an *sdk.ConfigError naming the setting; a record a
// transform cannot handle yields an *Error carrying the record's topic,
// partition and offset, which the worker dead-letters by its error policy.
package transform
