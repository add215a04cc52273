// Package examples holds Braid's runnable example pipelines, one folder each
// with a README: quickstart (a file through the log into two file sinks) and
// seed (webhook, CSV files, MariaDB and a generator into PostgreSQL, Parquet,
// email, an audit log and an HTTP service). Its tests lint every example's
// pipeline file, and every pipeline shown in docs/, the examples and the
// README, with the real connector catalog, and run the examples
// in-process end to end, so `make test` keeps them working.
package examples
