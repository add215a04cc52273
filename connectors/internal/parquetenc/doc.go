// Package parquetenc turns structured records into Parquet rows: a file's
// layout (columns from a record schema, or inferred from the fields and
// widened as new ones appear) and the conversion of each value to its
// column's type. The parquet sink and the rolling file sinks (ftp, sftp)
// write through it.
package parquetenc
