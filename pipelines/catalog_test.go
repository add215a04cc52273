package pipelines

import (
	"fmt"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// testCatalog is a small catalog of real specs shaped like Braid's connectors
// and transforms: data, not mocks.
func testCatalog() Catalog {
	return Catalog{
		Connectors: map[string]sdk.Spec{
			"mysql-cdc": {Kind: sdk.KindSource, Summary: "MySQL change events.", Fields: []sdk.Field{
				{Name: "dsn", Type: sdk.TypeString, Required: true, Secret: true, Doc: "Data source name.",
					Check: func(v any) error {
						if !strings.Contains(v.(string), "@") {
							return fmt.Errorf("must look like user:password@tcp(host:port)/db, not %q", v)
						}
						return nil
					}},
				{Name: "tables", Type: sdk.TypeList, Doc: "Tables to capture."},
				{Name: "server_id", Type: sdk.TypeInt, Default: 1001, Doc: "Replica server id."},
			}},
			"http-webhook": {Kind: sdk.KindSource, Summary: "Receives webhooks.", Fields: []sdk.Field{
				{Name: "listen", Type: sdk.TypeString, Required: true, Doc: "Address to listen on."},
				{Name: "path", Type: sdk.TypeString, Default: "/", Doc: "URL path."},
			}},
			"parquet": {Kind: sdk.KindSink, Summary: "Writes Parquet files.", Fields: []sdk.Field{
				{Name: "path", Type: sdk.TypeString, Required: true, Doc: "Output folder."},
				{Name: "flush_interval", Type: sdk.TypeDuration, Default: "1m", Doc: "Flush at least this often."},
				{Name: "compression", Type: sdk.TypeString, Default: "snappy", Enum: []string{"none", "snappy", "zstd"}, Doc: "Codec."},
			}},
			"email": {Kind: sdk.KindSink, Summary: "Sends emails.", Fields: []sdk.Field{
				{Name: "smtp", Type: sdk.TypeString, Required: true, Secret: true, Doc: "SMTP URL with credentials."},
				{Name: "to", Type: sdk.TypeList, Required: true, Doc: "Recipients."},
				{Name: "port", Type: sdk.TypeInt, Default: 25, Secret: true, Doc: "Port (secret to test redaction of typed values)."},
			}},
		},
		// file is both a source and a sink, as in Braid.
		Sources: sdk.Plugins{{Spec: fileSpec(sdk.KindSource)}}.Specs(sdk.KindSource),
		Sinks:   sdk.Plugins{{Spec: fileSpec(sdk.KindSink)}}.Specs(sdk.KindSink),
		Transforms: map[string]sdk.Spec{
			"filter": {Kind: sdk.KindTransform, Summary: "Keeps matching records.", Fields: []sdk.Field{
				{Name: "expr", Type: sdk.TypeString, Required: true, Doc: "Expression."},
			}},
			"insert_field": {Kind: sdk.KindTransform, Summary: "Sets a field.", Fields: []sdk.Field{
				{Name: "field", Type: sdk.TypeString, Required: true, Doc: "Field."},
				{Name: "value", Type: sdk.TypeAny, Doc: "Value."},
			}},
			"drop_tombstones": {Kind: sdk.KindTransform, Summary: "Drops tombstones."},
		},
		Converters: []string{"json", "string", "bytes", "csv", "avro", "protobuf", "jsonschema"},
	}
}

// testSecrets are values that must never show up in a lint.
var testSecrets = []string{"hunter2", "s3cret-from-file", "tok-123"}

// testEnv is the environment golden tests run with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"SHOP_DSN":   "shop:hunter2@tcp(127.0.0.1:3306)/shop",
		"BAD_DSN":    "hunter2-no-at-sign",
		"SMTP_URL":   "smtp://ops:hunter2@127.0.0.1:25",
		"PARTITIONS": "6",
		"NOT_A_NUM":  "six",
		"NATS_TOKEN": "tok-123",
		"EMPTY":      "",
	}[name]
	return v, ok
}

func fileSpec(kind sdk.Kind) sdk.Spec {
	return sdk.Spec{Name: "file", Kind: kind, Summary: "Files.", Fields: []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Required: true, Doc: "File path."},
		{Name: "format", Type: sdk.TypeString, Default: "jsonl", Enum: []string{"jsonl", "csv"}, Doc: "Format."},
	}}
}

// shorthandCatalog names shorthands explicitly, as runtime/transform does.
func shorthandCatalog() Catalog {
	c := testCatalog()
	c.Shorthands = map[string]string{"filter": "expr"}
	return c
}
