package parquetbench

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// TestLibrariesReadBackWithDuckDB writes the same records with both
// libraries and reads each file back with DuckDB: same rows, same values,
// same column types, the configured row groups.
func TestLibrariesReadBackWithDuckDB(t *testing.T) {
	t.Parallel()
	n := 20_000
	if v := os.Getenv("BRAID_BENCH_RECORDS"); v != "" {
		json.Unmarshal([]byte(v), &n)
	}
	recs := Records(n)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var results []string
	for name, write := range Writers {
		path := filepath.Join(t.TempDir(), "f.parquet")
		if err := write(path, recs, 1000); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var rows, sumID, notes, groups int
		var minAt, maxUser, types string
		var sumAmount float64
		q := fmt.Sprintf(`SELECT count(*), sum(id), sum(amount), min("at")::VARCHAR, max("user"), count(note),
			(SELECT string_agg(column_name || ':' || column_type, ',' ORDER BY column_name) FROM (DESCRIBE SELECT * FROM read_parquet('%[1]s'))),
			(SELECT count(DISTINCT row_group_id) FROM parquet_metadata('%[1]s'))
			FROM read_parquet('%[1]s')`, path)
		if err := db.QueryRow(q).Scan(&rows, &sumID, &sumAmount, &minAt, &maxUser, &notes, &types, &groups); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		results = append(results, fmt.Sprintf("%d %d %.2f %s %s %d %s", rows, sumID, sumAmount, minAt, maxUser, notes, types))
		t.Logf("%s: %s, %d row groups", name, results[len(results)-1], groups)
		if want := (n + rowGroupRows - 1) / rowGroupRows; groups != want {
			t.Errorf("%s: %d row groups, want %d", name, groups, want)
		}
	}
	want := fmt.Sprintf("%d %d", n, n*(n-1)/2)
	for _, r := range results {
		if r != results[0] || r[:len(want)] != want {
			t.Fatalf("the libraries disagree or lost rows:\n%s\n%s", results[0], results[1])
		}
	}
}

// TestCompareLibraries prints each library's speed, allocations, peak heap
// and file size for the same records as JSON; BRAID_BENCH_RECORDS sets the
// count (default 200000).
func TestCompareLibraries(t *testing.T) {
	libs, err := CompareLibraries(t.TempDir(), Records(benchRecords()), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		b, _ := json.Marshal(l)
		t.Log(string(b))
		if l.RPS <= 0 || l.FileBytes <= 0 {
			t.Fatalf("nothing measured: %s", b)
		}
	}
}

func benchLibrary(b *testing.B, name string) {
	recs := Records(50_000)
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "f.parquet")
		_, _, p, _, err := measure(len(recs), func() error { return Writers[name](path, recs, 1000) })
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkParquetGo and BenchmarkXitongsys write the same 50,000 records
// with each library (snappy, 256 KiB pages, one row group).
func BenchmarkParquetGo(b *testing.B) { benchLibrary(b, "parquet-go/parquet-go") }

func BenchmarkXitongsys(b *testing.B) { benchLibrary(b, "xitongsys/parquet-go") }
