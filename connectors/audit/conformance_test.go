package audit

import (
	"math"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sdktest.RunSink(t, SinkPlugin(), sdktest.SinkCase{
		Config:  map[string]any{"path": dir},
		Records: records("orders", 0, 1, 3),
		Reject:  &sdk.Record{Fields: map[string]any{"amount": math.NaN()}}, // not JSON
		Check: func(t *testing.T, written []sdk.Record) {
			rep, err := Verify(dir)
			if err != nil || rep.Entries != int64(len(written)) {
				t.Fatalf("Verify = %+v, %v", rep, err)
			}
		},
	})
}
