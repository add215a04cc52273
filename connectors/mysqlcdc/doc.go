// Package mysqlcdc is the mysql-cdc source: change data capture from the
// MySQL/MariaDB binlog with go-mysql's replication package, after an optional
// chunked snapshot.
//
// Every record's position names the end of the last fully published
// transaction (file:pos and, on MariaDB, the GTID set) plus how many rows of
// the next transaction are already published, so resuming at any record's
// position neither loses nor repeats a row. During the snapshot the position
// holds the binlog coordinates read before the first chunk and the last
// primary key read, so a restart continues at the next chunk; streaming then
// replays from those coordinates, which an upserting sink makes converge.
//
// Column names, types, signedness, ENUM/SET values and the primary key come
// from each TABLE_MAP event (binlog_row_metadata=FULL), so rows are decoded
// with the definition valid when they were written, also after DDL.
package mysqlcdc
