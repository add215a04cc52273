package pipebench

import (
	"context"
	"testing"
	"time"
)

// TestRunSmall runs every phase at a small size: the harness itself must work.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Records: 20_000, Size: 128, Partitions: 2, Rate: 2000, Paced: 2000, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.RPS <= 0 || res.BaselineRPS <= 0 || res.Ratio <= 0 || res.P99ms <= 0 || res.PeakRSSMiB <= 0 {
		t.Fatalf("incomplete result: %+v", res)
	}
	t.Logf("%+v", res)
}
