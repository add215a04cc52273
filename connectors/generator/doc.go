// Package generator is a source that makes up records: at a given rate, a
// given number of them, from a text/template or from a set of fake-data
// field templates. It serves demos, tests and benchmarks (values padded to
// a fixed size). Output is deterministic: record N always has the same key,
// and the same value apart from {{.Now}}, so a restart at a stored Position
// (the count emitted so far) continues the sequence exactly.
package generator
