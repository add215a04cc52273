// Package e2e runs the jdbc connectors end to end: YAML pipelines that copy
// tables between MariaDB and PostgreSQL through the log, in-process through
// runtime/engine, against the loopback databases. It has only tests; it lives
// outside connectors/jdbc because a connector package must not depend on the
// runtime.
package e2e
