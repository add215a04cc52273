package parquetbench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	pq "github.com/parquet-go/parquet-go"
)

var raceEnabled bool

// benchRecords is BRAID_BENCH_RECORDS, else 200,000, or 10,000 under -short
// or -race, where a run checks that it works rather than measures.
func benchRecords() int {
	n := 200_000
	if testing.Short() || raceEnabled {
		n = 10_000
	}
	if v := os.Getenv("BRAID_BENCH_RECORDS"); v != "" {
		json.Unmarshal([]byte(v), &n)
	}
	return n
}

// TestRatio runs the side-by-side measurement once and prints it as JSON;
// BRAID_BENCH_RECORDS sets the record count (default 200000).
func TestRatio(t *testing.T) {
	res, err := Run(context.Background(), t.TempDir(), Records(benchRecords()), 1000, 3)
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

// BenchmarkBaselineRows is the floor of the sink's row building
// (parquet.BenchmarkAppendRow): the same rows, written by hand.
func BenchmarkBaselineRows(b *testing.B) {
	recs := Records(4096)
	vals := make([]pq.Value, 0, len(recs)*5)
	b.ReportAllocs()
	for b.Loop() {
		vals = vals[:0]
		for i := range recs {
			vals = appendBaselineRow(vals, recs[i].Fields)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/row")
}
