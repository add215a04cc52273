// Package pipelines reads pipeline files: the YAML that declares a pipeline's
// topics, sources and sinks.
//
// Parse turns a file into a Pipeline whose connector settings are interpolated
// (${VAR}, ${VAR:-default}, ${file:/path}) and validated against each
// connector's sdk.Spec, or into a list of Lints that say what is wrong and
// where (file:line:col) — every mistake in the file, not just the first. Diff
// compares two parsed pipelines for live reload and dry runs.
//
// The package knows connectors and transforms only through the specs in the
// Catalog its caller passes; it never starts anything. The file format is
// documented in docs/pipelines.md and described by docs/pipeline.schema.json.
package pipelines
