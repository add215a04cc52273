package sftp

import (
	"slices"

	"github.com/braidhq/braid/connectors/internal/remotefs"
	"github.com/braidhq/braid/connectors/sdk"
)

func connFields() []sdk.Field {
	return []sdk.Field{
		{Name: "host", Type: sdk.TypeString, Required: true, Example: "sftp.partner.example",
			Doc: "SFTP server's host name or address."},
		{Name: "port", Type: sdk.TypeInt, Default: 22, Min: 1, Max: 65535,
			Doc: "SFTP server's port."},
		{Name: "user", Type: sdk.TypeString, Required: true,
			Doc: "User to log in as."},
		{Name: "password", Type: sdk.TypeString, Secret: true,
			Doc: "Password (when the server accepts password or keyboard-interactive login)."},
		{Name: "private.key", Type: sdk.TypeString, Secret: true, Example: "${SFTP_KEY}",
			Doc: "Private key in OpenSSH or PEM form (the text itself, usually from an environment variable)."},
		{Name: "private.key.file", Type: sdk.TypeString, Path: true,
			Doc: "File holding the private key, instead of `private.key`."},
		{Name: "private.key.passphrase", Type: sdk.TypeString, Secret: true,
			Doc: "Passphrase of an encrypted private key."},
		{Name: "known.hosts", Type: sdk.TypeString, Path: true, Example: "/etc/braid/known_hosts",
			Doc: "known_hosts file (OpenSSH format) holding the server's host key. A key that is not in it is refused."},
		{Name: "host.key", Type: sdk.TypeString, Example: "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
			Doc: "The server's host key, pinned: its SHA256 fingerprint or its public key (`ssh-ed25519 AAAA...`). Used instead of or besides `known.hosts`."},
		{Name: "insecure.skip.host.key.check", Type: sdk.TypeBool, Default: false,
			Doc: "Accept any host key. Only for tests: anyone between Braid and the server could read and change the files."},
		{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Min: "1ms",
			Doc: "Bound of connecting and logging in; and how long the server may leave a keepalive (sent every half timeout) unanswered before the connection is closed and its listing, download or upload retried."},
	}
}

func check(cfg sdk.Config) []sdk.FieldError {
	var errs []sdk.FieldError
	if cfg.String("password") == "" && cfg.String("private.key") == "" && cfg.String("private.key.file") == "" {
		errs = append(errs, sdk.FieldError{Field: "password", Message: "set password, private.key or private.key.file"})
	}
	if cfg.String("private.key") != "" && cfg.String("private.key.file") != "" {
		errs = append(errs, sdk.FieldError{Field: "private.key.file", Message: "set private.key or private.key.file, not both"})
	}
	return errs
}

var sourceSpec = sdk.Spec{
	Name:     "sftp",
	Kind:     sdk.KindSource,
	Summary:  "Reads files from a directory on an SFTP server: lines, CSV, JSON lines or whole files.",
	Doc:      remotefs.SourceDoc + " The server's host key is checked against `known.hosts` or `host.key`; an unknown key is refused with its fingerprint in the error.",
	Fields:   slices.Concat(connFields(), remotefs.SourceFields()),
	Check:    check,
	MaxTasks: 1,
}

var sinkSpec = sdk.Spec{
	Name:    "sftp",
	Kind:    sdk.KindSink,
	Summary: "Writes records as JSON lines, CSV or raw lines into files on an SFTP server, named by topic, partition and offset range.",
	Doc:     remotefs.SinkDoc,
	Fields:  slices.Concat(connFields(), remotefs.SinkFields()),
	Check:   check,
}

// SourcePlugin returns the sftp source connector.
func SourcePlugin() sdk.Plugin { return remotefs.SourcePlugin(sourceSpec, "sftp", newDialer) }

// SinkPlugin returns the sftp sink connector.
func SinkPlugin() sdk.Plugin { return remotefs.SinkPlugin(sinkSpec, "sftp", newDialer) }
