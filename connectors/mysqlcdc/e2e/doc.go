// Package e2e runs mysql-cdc end to end: a private MariaDB streamed through
// the log by runtime/engine into a jdbc-sink mirror on the loopback MariaDB
// (database test). It has only tests; it lives outside connectors/mysqlcdc
// because a connector package must not depend on the runtime.
package e2e
