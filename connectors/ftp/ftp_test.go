package ftp

import (
	"strings"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/braidhq/braid/connectors/internal/remotefs/remotefstest"
	"github.com/braidhq/braid/connectors/sdk"
)

func harness(t *testing.T, mode ftpserver.TLSRequirement, tlsMode string, disableMLSD bool) remotefstest.Harness {
	ts := startServer(t, mode, disableMLSD)
	return remotefstest.Harness{
		Source: SourcePlugin(), Sink: SinkPlugin(),
		// A short timeout: a transfer the dropped-connection test leaves
		// hanging is abandoned and retried within the test's patience.
		Config: func(extra map[string]any) map[string]any { return ts.config(tlsMode, with(extra, "timeout", "3s")) },
		Local:  ts.root, Remote: "/", Drop: ts.Drop,
	}
}

// Explicit FTPS (AUTH TLS) with MLSD: what a current server offers.
func TestExplicitFTPS(t *testing.T) {
	h := harness(t, ftpserver.MandatoryEncryption, tlsExplicit, false)
	remotefstest.RunSource(t, h)
	remotefstest.RunSink(t, h)
}

// Plain FTP on a server without MLSD: listings are parsed from LIST.
func TestPlainLIST(t *testing.T) {
	h := harness(t, ftpserver.ClearOrEncrypted, tlsNone, true)
	remotefstest.RunSource(t, h)
	remotefstest.RunSink(t, h)
}

// Implicit FTPS: TLS from the first byte.
func TestImplicitFTPS(t *testing.T) {
	h := harness(t, ftpserver.ImplicitEncryption, tlsImplicit, false)
	remotefstest.RunSink(t, h)
	t.Run("source", func(t *testing.T) { remotefstest.RunSourceConformance(t, h) })
}

func TestConnectErrors(t *testing.T) {
	explicit := startServer(t, ftpserver.MandatoryEncryption, false)
	for _, c := range []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"wrong password", explicit.config(tlsExplicit, map[string]any{"password": "nope"}), "refused the login"},
		{"untrusted certificate", explicit.config(tlsExplicit, map[string]any{"tls.ca.file": nil}), "certificate is not trusted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := remotefstest.OpenErr(t, SourcePlugin(), c.raw)
			if err == nil || !sdk.IsFatal(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("dial: %v, want a fatal error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Fatal("the error shows the password")
			}
		})
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for kk, vv := range m {
		out[kk] = vv
	}
	return out
}
