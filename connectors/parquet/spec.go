package parquet

import "github.com/braidhq/braid/connectors/sdk"

var spec = sdk.Spec{
	Name:    "parquet",
	Kind:    sdk.KindSink,
	Summary: "Writes records as Parquet files partitioned by topic and time, for analytics engines.",
	Doc: "Files are laid out as `<path>/topic=<topic>/date=<YYYY-MM-DD>/hour=<HH>/part-p<partition>-<first offset>-<last offset>.parquet` " +
		"(UTC), so DuckDB, Spark, Trino or Athena prune by topic, date and hour. Columns come from the record's " +
		"schema (decimal, timestamp, date, time, string, bytes, numbers, booleans; nested values as JSON; optional " +
		"fields nullable) or, without one, are inferred from the first record's fields (all nullable; a record " +
		"with a new field starts a new file with the widened columns). A file is written under a hidden temporary " +
		"name, fsynced when it rolls, and renamed when the worker flushes, so a name never claims a record that " +
		"was rejected or not yet committed (a failed task's unflushed files are deleted and their records read " +
		"again); a replay rewrites the same names and removes files " +
		"whose offset range a new file covers, and on restart the sink reports the last offset found in the names.",
	Fields: []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Path: true, Required: true, Example: "./lake",
			Doc: "Root directory of the dataset (created when missing). Nothing is written outside it."},
		{Name: "time.field", Type: sdk.TypeString, Example: "created_at",
			Doc: "Field whose time decides the date/hour directory (a timestamp, an RFC 3339 string or epoch milliseconds). Default: the record's log timestamp (ingestion time). A record whose field is missing or not a time is not rejected: it goes to the directory of its ingestion time, with a warning (the field's value, if any, is still written to its column)."},
		{Name: "partition.by", Type: sdk.TypeString, Default: "hour", Enum: []string{"hour", "day", "none"},
			Doc: "Time directories: `date=.../hour=...`, `date=...` only, or none (files directly under `topic=...`)."},
		{Name: "compression", Type: sdk.TypeString, Default: "snappy", Enum: []string{"snappy", "zstd", "none"},
			Doc: "Column chunk compression."},
		{Name: "roll.size", Type: sdk.TypeInt, Default: 128 << 20, Min: 1,
			Doc: "Roll a partition's files once one holds about this many bytes of uncompressed values."},
		{Name: "roll.records", Type: sdk.TypeInt, Default: 1_000_000, Min: 1,
			Doc: "Roll a partition's files once one holds this many records."},
		{Name: "roll.interval", Type: sdk.TypeDuration, Default: "10m",
			Doc: "Roll a partition's files once the oldest is this old (0: never by age). The worker's flushes also finish files."},
		{Name: "row.group.size", Type: sdk.TypeInt, Default: 131072, Min: 1,
			Doc: "Rows per row group; bounds the memory each open file buffers."},
	},
}

// Plugin returns the parquet sink connector.
func Plugin() sdk.Plugin { return sdk.Plugin{Spec: spec, NewSink: NewSink} }
