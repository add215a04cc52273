// Package builtin is the one place that lists Braid's built-in connectors and
// converters. Registration is explicit: nothing registers itself in init().
package builtin

import (
	"github.com/braidhq/braid/connectors/audit"
	"github.com/braidhq/braid/connectors/email"
	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/generator"
	braidhttp "github.com/braidhq/braid/connectors/http"
	"github.com/braidhq/braid/connectors/jdbc"
	"github.com/braidhq/braid/connectors/parquet"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema/convert"
)

// Plugins returns every built-in connector.
func Plugins() sdk.Plugins {
	return sdk.Plugins{
		file.SourcePlugin(),
		file.SinkPlugin(),
		generator.Plugin(),
		braidhttp.WebhookPlugin(),
		braidhttp.PollPlugin(),
		braidhttp.SinkPlugin(),
		parquet.Plugin(),
		email.SinkPlugin(),
		audit.SinkPlugin(),
		jdbc.SourcePlugin(),
		jdbc.SinkPlugin(),
	}
}

// RegisterConverters registers the built-in converters.
func RegisterConverters() {
	convert.Builtin()
}
