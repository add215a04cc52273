package kafkabench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestRun runs a small benchmark end to end and checks every figure is
// there. KAFKABENCH_RECORDS runs a bigger one (e.g. to profile it).
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := 20000
	if s := os.Getenv("KAFKABENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	res, err := Run(ctx, Options{Records: n, Size: 64, Partitions: 2, DataDir: t.TempDir(), PacedRate: 500})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.JSON())
	for name, v := range map[string]float64{"produce": res.ProduceRPS, "consume": res.ConsumeRPS, "native produce": res.NativeProduceRPS,
		"native consume": res.NativeConsumeRPS, "paced p99": res.PacedP99Ms, "paced request p99": res.PacedRequestP99Ms} {
		if v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
}
