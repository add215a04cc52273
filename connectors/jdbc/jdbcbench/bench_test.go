package jdbcbench

import (
	"context"
	"testing"
)

func TestRunSmall(t *testing.T) {
	for _, d := range []string{"mysql", "postgres"} {
		t.Run(d, func(t *testing.T) {
			o := Options{Dialect: d, Rows: 3000, Batch: 1000}
			res, err := RunSink(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.RPS <= 0 || res.BaselineRPS <= 0 {
				t.Fatalf("no figures: %+v", res)
			}
			res, err = RunSource(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
		})
	}
}

func benchmark(b *testing.B, run func(Options) (Result, error), dialect string) {
	var ratio float64
	for i := 0; i < b.N; i++ {
		res, err := run(Options{Dialect: dialect, Rows: benchRows})
		if err != nil {
			b.Fatal(err)
		}
		ratio = res.Ratio
		b.ReportMetric(res.RPS, "rows/s")
		b.ReportMetric(res.BaselineRPS, "baseline_rows/s")
	}
	b.ReportMetric(ratio, "ratio")
}

func BenchmarkSinkMySQL(b *testing.B) {
	benchmark(b, func(o Options) (Result, error) { return RunSink(context.Background(), o, nil) }, "mysql")
}

func BenchmarkSinkPostgres(b *testing.B) {
	benchmark(b, func(o Options) (Result, error) { return RunSink(context.Background(), o, nil) }, "postgres")
}

func BenchmarkSourceMySQL(b *testing.B) {
	benchmark(b, func(o Options) (Result, error) { return RunSource(context.Background(), o) }, "mysql")
}

func BenchmarkSourcePostgres(b *testing.B) {
	benchmark(b, func(o Options) (Result, error) { return RunSource(context.Background(), o) }, "postgres")
}

// benchRows is large enough that connection and metadata setup do not dominate.
const benchRows = 100_000
