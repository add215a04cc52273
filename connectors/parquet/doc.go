// Package parquet is a sink that writes topic partitions as Parquet files for
// analytics, laid out for Hive-style partition pruning:
//
//	topic=orders/date=2026-11-27/hour=13/part-p0-000000000000123-000000000000456.parquet
//
// Columns come from the record's schema (*schema.Schema, mapped to Parquet
// logical types: DECIMAL, TIMESTAMP, DATE, TIME, STRING, JSON, nullable when
// optional) or are inferred from the structured fields. A file is written
// under a hidden temporary name and renamed after fsync when it rolls (by
// size, record count or age) or the worker flushes; names carry partition and
// offset range, so a replay rewrites files instead of duplicating rows, and
// the sink reports durable offsets from the names (sdk.OffsetTracker).
//
// The library is github.com/parquet-go/parquet-go: rows are built as
// parquet.Row values directly, without reflection.
package parquet
