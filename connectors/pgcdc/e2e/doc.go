// Package e2e runs postgres-cdc in a real Braid engine, from a private
// PostgreSQL (wal_level=logical) into a jdbc-sink mirror table on the shared
// PostgreSQL, and compares the two row for row.
package e2e
