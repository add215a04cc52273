package ftp

import (
	"slices"

	"github.com/braidhq/braid/connectors/internal/remotefs"
	"github.com/braidhq/braid/connectors/sdk"
)

// TLS modes.
const (
	tlsNone     = "none"
	tlsExplicit = "explicit"
	tlsImplicit = "implicit"
)

func connFields() []sdk.Field {
	return []sdk.Field{
		{Name: "host", Type: sdk.TypeString, Required: true, Example: "ftp.partner.example",
			Doc: "FTP server's host name or address."},
		{Name: "port", Type: sdk.TypeInt, Min: 1, Max: 65535,
			Doc: "FTP server's port. Default: 21, or 990 with `tls: implicit`."},
		{Name: "user", Type: sdk.TypeString, Default: "anonymous",
			Doc: "User to log in as."},
		{Name: "password", Type: sdk.TypeString, Secret: true,
			Doc: "Password of the user."},
		{Name: "tls", Type: sdk.TypeString, Default: tlsExplicit, Enum: []string{tlsNone, tlsExplicit, tlsImplicit},
			Doc: "`explicit`: FTPS, the connection starts plain and switches to TLS with AUTH TLS before logging in (port 21). `implicit`: FTPS, TLS from the first byte (port 990). `none`: plain FTP, password and files in clear text; only inside a trusted network."},
		{Name: "tls.ca.file", Type: sdk.TypeString, Path: true,
			Doc: "PEM file of the certificate authorities to trust for the server's certificate (default: the system's)."},
		{Name: "tls.server.name", Type: sdk.TypeString,
			Doc: "Name the server's certificate must hold (default: `host`)."},
		{Name: "tls.insecure.skip.verify", Type: sdk.TypeBool, Default: false,
			Doc: "Accept any server certificate. Only for tests: anyone in between could read and change the files."},
		{Name: "epsv", Type: sdk.TypeBool, Default: true,
			Doc: "Open passive data connections with EPSV (falls back to PASV when the server refuses it); false: PASV only, for old servers and firewalls."},
		{Name: "mlsd", Type: sdk.TypeBool, Default: true,
			Doc: "List directories with MLSD (exact sizes and times, UTF-8 names) when the server announces it; false: always LIST, parsed in the Unix and DOS formats."},
		{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Min: "1ms",
			Doc: "How long the server may leave Braid waiting — to connect and log in, for a command's reply, for the next bytes of a download or to take those of an upload — before the operation is abandoned and retried."},
	}
}

var sourceSpec = sdk.Spec{
	Name:     "ftp",
	Kind:     sdk.KindSource,
	Summary:  "Reads files from a directory on an FTP or FTPS server: lines, CSV, JSON lines or whole files.",
	Doc:      remotefs.SourceDoc + " Each download uses its own FTP connection (FTP transfers one file at a time per connection).",
	Fields:   slices.Concat(connFields(), remotefs.SourceFields()),
	MaxTasks: 1,
}

var sinkSpec = sdk.Spec{
	Name:    "ftp",
	Kind:    sdk.KindSink,
	Summary: "Writes records as JSON lines, CSV or raw lines into files on an FTP or FTPS server, named by topic, partition and offset range.",
	Doc:     remotefs.SinkDoc,
	Fields:  slices.Concat(connFields(), remotefs.SinkFields()),
}

// SourcePlugin returns the ftp source connector.
func SourcePlugin() sdk.Plugin { return remotefs.SourcePlugin(sourceSpec, "ftp", newDialer) }

// SinkPlugin returns the ftp sink connector.
func SinkPlugin() sdk.Plugin { return remotefs.SinkPlugin(sinkSpec, "ftp", newDialer) }
