package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/worker"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gaugeSource records one gauge when it opens and then has nothing to read.
type gaugeSource struct{ env sdk.Env }

func (g gaugeSource) Open(context.Context, sdk.Position) error {
	g.env.SetGauge("lag_bytes", 42)
	return nil
}
func (gaugeSource) Read(ctx context.Context) ([]sdk.Record, error) { return nil, sdk.ErrBackoff }
func (gaugeSource) Ack(context.Context, sdk.Position) error        { return nil }
func (gaugeSource) Close(context.Context) error                    { return nil }

// TestConnectorGauges checks a connector's sdk.Env.SetGauge values reach its
// task status and braid_connector_gauge, and leave the metric on delete.
func TestConnectorGauges(t *testing.T) {
	plugin := sdk.Plugin{Spec: sdk.Spec{Name: "gauges", Kind: sdk.KindSource, Summary: "test"},
		NewSource: func(_ sdk.Config, env sdk.Env) (sdk.Source, error) { return gaugeSource{env}, nil }}
	e := start(t, t.TempDir(), plugin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.w.Put(ctx, worker.ConnectorConfig{Name: "g", Kind: sdk.KindSource, Plugin: "gauges", Topic: "gt"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.w.Status("g")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Tasks) == 1 && st.Tasks[0].Gauges["lag_bytes"] == 42 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the gauge: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := testutil.ToFloat64(e.m.Gauges.WithLabelValues("g", "0", "lag_bytes")); v != 42 {
		t.Errorf("braid_connector_gauge = %v, want 42", v)
	}
	if err := e.w.Delete(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.m.Gauges); n != 0 {
		t.Errorf("%d gauges left after delete", n)
	}
}
