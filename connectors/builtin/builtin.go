// Package builtin is the one place that lists Braid's built-in connectors and
// converters. Registration is explicit: nothing registers itself in init().
package builtin

import (
	"github.com/braidhq/braid/connectors/audit"
	"github.com/braidhq/braid/connectors/email"
	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/ftp"
	"github.com/braidhq/braid/connectors/generator"
	braidhttp "github.com/braidhq/braid/connectors/http"
	"github.com/braidhq/braid/connectors/jdbc"
	"github.com/braidhq/braid/connectors/mysqlcdc"
	"github.com/braidhq/braid/connectors/parquet"
	"github.com/braidhq/braid/connectors/pgcdc"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sftp"
	"github.com/braidhq/braid/connectors/socket"
	"github.com/braidhq/braid/schema/convert"
	"github.com/braidhq/braid/schema/serde"
)

// Plugins returns every built-in connector.
func Plugins() sdk.Plugins {
	return sdk.Plugins{
		file.SourcePlugin(),
		file.SinkPlugin(),
		sftp.SourcePlugin(),
		sftp.SinkPlugin(),
		ftp.SourcePlugin(),
		ftp.SinkPlugin(),
		generator.Plugin(),
		braidhttp.WebhookPlugin(),
		braidhttp.PollPlugin(),
		braidhttp.SinkPlugin(),
		parquet.Plugin(),
		email.SinkPlugin(),
		audit.SinkPlugin(),
		jdbc.SourcePlugin(),
		jdbc.SinkPlugin(),
		pgcdc.Plugin(),
		mysqlcdc.Plugin(),
		socket.TCPPlugin(),
		socket.UDPPlugin(),
	}
}

// RegisterConverters registers the built-in converters: json, string, bytes
// and csv, and the schema-registry formats avro, protobuf and jsonschema
// (which find the registry in the convert.Env the worker passes them).
func RegisterConverters() {
	convert.Builtin()
	for name, f := range serde.Factories(nil) {
		convert.Register(name, f)
	}
}
