package kafkabench

import (
	"context"
	"testing"
	"time"
)

// TestRun runs a small benchmark end to end and checks every figure is there.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Records: 20000, Size: 64, Partitions: 2, DataDir: t.TempDir(), PacedRate: 500})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.JSON())
	for name, v := range map[string]float64{"produce": res.ProduceRPS, "consume": res.ConsumeRPS, "native produce": res.NativeProduceRPS,
		"native consume": res.NativeConsumeRPS, "paced p99": res.PacedP99Ms} {
		if v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
}
