package parquetbench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	xparquet "github.com/xitongsys/parquet-go/parquet"
	xwriter "github.com/xitongsys/parquet-go/writer"

	"github.com/braidhq/braid/connectors/sdk"
)

// Library is one Parquet library's write of the benchmark records.
type Library struct {
	Name        string  `json:"name"`
	RPS         float64 `json:"rps"`
	AllocBytes  uint64  `json:"alloc_bytes"` // allocated during the write
	Allocs      uint64  `json:"allocs"`      // heap objects allocated during the write
	PeakHeap    uint64  `json:"peak_heap"`   // highest live heap seen above the start, sampled every millisecond
	FileBytes   int64   `json:"file_bytes"`  // size of the written file
	Description string  `json:"description"` // how the rows are handed to the library
}

// Writers are the two candidate libraries, writing the benchmark shape with
// the same values, snappy compression and row groups of 131072 rows.
var Writers = map[string]func(path string, records []sdk.Record, batch int) error{
	"parquet-go/parquet-go": baseline,
	"xitongsys/parquet-go":  xitongsys,
}

var descriptions = map[string]string{
	"parquet-go/parquet-go": "parquet.Row values built from the fields, WriteRows per batch (the sink's path)",
	"xitongsys/parquet-go":  "CSVWriter with a metadata schema, one []interface{} per record (its dynamic-schema path)",
}

// CompareLibraries writes the records once with each library into dir and
// measures speed, allocations and peak heap. The records are built before
// either runs, so neither pays for them.
func CompareLibraries(dir string, records []sdk.Record, batch int) ([]Library, error) {
	var out []Library
	for _, name := range []string{"parquet-go/parquet-go", "xitongsys/parquet-go"} {
		path := fmt.Sprintf("%s/%d.parquet", dir, len(out))
		lib := Library{Name: name, Description: descriptions[name]}
		var err error
		lib.AllocBytes, lib.Allocs, lib.PeakHeap, lib.RPS, err = measure(len(records), func() error {
			return Writers[name](path, records, batch)
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		lib.FileBytes = st.Size()
		out = append(out, lib)
	}
	return out, nil
}

// measure runs f after a GC and samples the live heap while it runs.
func measure(n int, f func() error) (allocBytes, allocs, peak uint64, rps float64, err error) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	start := sample[0].Value.Uint64()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		s := []metrics.Sample{{Name: sample[0].Name}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > start && v-start > peak {
				peak = v - start
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t0 := time.Now()
	err = f()
	d := time.Since(t0)
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs, peak, float64(n) / d.Seconds(), err
}

// rowGroupRows is the row group size both libraries write.
const rowGroupRows = 131072

// xitongsysRowGroupBytes makes xitongsys/parquet-go, which cuts a row group
// when its compressed pages reach a byte size rather than after a number of
// rows, cut them at about rowGroupRows of the benchmark records (~58 bytes a
// row once compressed in 256 KiB pages); TestLibrariesReadBackWithDuckDB
// checks the count.
const xitongsysRowGroupBytes = 3<<20 + 256<<10

// xitongsys writes the records with github.com/xitongsys/parquet-go's
// CSVWriter: a schema from metadata strings and one []interface{} per row,
// the API it offers for a schema known only at run time (its struct API
// needs a Go type per schema).
func xitongsys(path string, records []sdk.Record, _ int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	md := []string{
		"name=amount, type=DOUBLE",
		"name=at, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MICROS",
		"name=id, type=INT64",
		"name=note, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL",
		"name=user, type=BYTE_ARRAY, convertedtype=UTF8",
	}
	w, err := xwriter.NewCSVWriterFromWriter(md, f, 1)
	if err != nil {
		return err
	}
	w.CompressionType = xparquet.CompressionCodec_SNAPPY
	w.RowGroupSize = xitongsysRowGroupBytes
	w.PageSize = 256 << 10 // parquet-go's default page buffer; xitongsys's own is 8 KiB
	for i := range records {
		m := records[i].Fields
		row := []interface{}{m["amount"].(float64), m["at"].(time.Time).UnixMicro(), m["id"].(int64), m["note"].(string), m["user"].(string)}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	if err := w.WriteStop(); err != nil {
		return err
	}
	return f.Sync()
}
