// Package parquet is a sink that writes topic partitions as Parquet files for
// analytics, laid out for Hive-style partition pruning:
//
//	topic=orders/date=2026-11-27/hour=13/part-p0-000000000000123-000000000000456.parquet
//
// Columns come from the record's schema (*schema.Schema, mapped to Parquet
// logical types: DECIMAL, TIMESTAMP, DATE, TIME, STRING, JSON, nullable when
// optional) or are inferred from the structured fields. A file is written
// under a hidden temporary name, fsynced when it rolls (by size, record count
// or age) and renamed only when the worker flushes, so no name claims a
// record that was rejected or not yet committed; Close deletes what was not
// flushed. Names carry partition and offset range, so a replay rewrites files
// instead of duplicating rows, and the sink reports durable offsets from the
// names (sdk.OffsetTracker).
//
// The date/hour comes from the time.field setting or the log timestamp; a
// record whose time field is missing or not a time is written under its
// ingestion time with a warning, not dead-lettered.
//
// The library is github.com/parquet-go/parquet-go (chosen over
// xitongsys/parquet-go by measurement, see docs/benchmarks.md): rows are
// built as parquet.Row values directly, without reflection, by a converter
// per column chosen once per file layout.
package parquet
