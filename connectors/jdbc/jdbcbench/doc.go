// Package jdbcbench measures the jdbc connectors beside each database's own
// fast path in the same run: the sink's upserts against a bulk load (MySQL
// LOAD DATA LOCAL INFILE, PostgreSQL COPY FROM STDIN), and the source's
// polling reads against a plain SELECT scan. `braid bench jdbc-sink` and
// `braid bench jdbc-source` print its Results as JSON lines.
package jdbcbench
