// Package jdbc holds Braid's database connectors for MySQL/MariaDB and
// PostgreSQL: the jdbc-source connector, which polls tables (bulk,
// incrementing, timestamp or timestamp+incrementing) or a custom query and
// emits structured records with schemas derived from the column types, and the
// jdbc-sink connector, which writes records as batched inserts, upserts,
// updates and deletes, creating and evolving tables from record schemas.
//
// The name mirrors Kafka Connect's JDBC connector, whose settings it follows
// where they fit; the implementation uses Go's database/sql with
// go-sql-driver/mysql and jackc/pgx.
package jdbc
