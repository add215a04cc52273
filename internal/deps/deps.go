//go:build tools

// Package deps pins the project's libraries while their users are being written.
package deps

import (
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/hamba/avro/v2"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/xitongsys/parquet-go/writer"
	_ "github.com/parquet-go/parquet-go"
	_ "github.com/expr-lang/expr"
	_ "github.com/goccy/go-yaml"
	_ "github.com/spf13/cobra"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/bufbuild/protocompile"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/emersion/go-smtp"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/klauspost/compress/s2"
	_ "github.com/duckdb/duckdb-go/v2"
)
