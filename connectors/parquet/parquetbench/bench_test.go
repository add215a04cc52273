package parquetbench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

var raceEnabled bool

// TestRatio runs the side-by-side measurement once and prints it as JSON;
// BRAID_BENCH_RECORDS sets the record count (default 200000).
func TestRatio(t *testing.T) {
	n := 200_000
	if testing.Short() || raceEnabled {
		n = 10_000 // a check that it runs, not a measurement
	}
	if v := os.Getenv("BRAID_BENCH_RECORDS"); v != "" {
		json.Unmarshal([]byte(v), &n)
	}
	res, err := Run(context.Background(), t.TempDir(), Records(n), 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	t.Log(string(b))
	if res.RPS <= 0 || res.BaselineRPS <= 0 {
		t.Fatalf("no throughput measured: %s", b)
	}
}

func BenchmarkSink(b *testing.B) {
	recs := Records(10_000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := throughSink(context.Background(), filepath.Join(b.TempDir(), "s"), recs, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkBaseline(b *testing.B) {
	recs := Records(10_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := baseline(filepath.Join(b.TempDir(), "b.parquet"), recs, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
}
