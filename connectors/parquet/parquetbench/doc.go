// Package parquetbench measures the parquet sink against a raw parquet-go
// write of the same rows, in the same process, and reports the ratio
// (rps, baseline_rps, ratio) so that noisy machines still give a
// comparable figure. CompareLibraries writes the same records with
// parquet-go/parquet-go and xitongsys/parquet-go for the library decision.
package parquetbench
