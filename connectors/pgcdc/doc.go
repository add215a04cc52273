// Package pgcdc is the postgres-cdc source: every insert, update and delete
// of chosen PostgreSQL tables, in commit order, read through logical
// replication (a slot and the pgoutput plugin), after an optional chunked
// snapshot that reads exactly the state at the slot's consistent point.
//
// The position is the commit LSN of a transaction and the number of its
// records already handed out; the slot's confirmed flush LSN moves only past
// transactions whose every record the worker acknowledged (Ack), so a
// restart loses nothing and repeats at most the unacknowledged part of one
// transaction.
package pgcdc
