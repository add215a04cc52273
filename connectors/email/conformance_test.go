package email

import (
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	box := startMailbox(t, false)
	sdktest.RunSink(t, SinkPlugin(), sdktest.SinkCase{
		Config: map[string]any{
			"smtp": "smtp://alerts@" + box.addr, "password": "pw", "tls_ca_file": box.caFile,
			"from": "braid@example.com", "to": []any{"ops@example.com"},
			"subject": "Order {{.Fields.id}}", "body": "{{.Value}}", "rate_per_minute": 60000,
		},
		Env:     sdk.Env{Store: newStore(t)},
		Records: []sdk.Record{order(1, "a", `{"id":1}`), order(2, "b", `{"id":2}`)},
		Check: func(t *testing.T, written []sdk.Record) {
			if got := box.got(); len(got) != len(written) {
				t.Fatalf("%d messages, want %d", len(got), len(written))
			}
		},
	})
}
