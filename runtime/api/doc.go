// Package api is Braid's REST control endpoint. It follows Kafka Connect's
// routes, JSON bodies and status codes for connectors, tasks, offsets
// (KIP-875), plugins and log levels, so Kafka Connect users and tools feel at
// home, and adds Braid's own routes for pipeline files, topics, record
// browsing, health and Prometheus metrics. The Confluent-compatible schema
// registry is mounted beside it when given.
//
// Settings a connector's spec marks secret never leave the server: every
// response and log line shows them as sdk.Hidden. A bearer token is required
// whenever the listener is reachable beyond loopback. Browsers cannot drive
// the API from another site (guard.go), and connectors created over it may
// name only files in the allowed directories (paths.go).
package api
