package parquetbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/braidhq/braid/connectors/parquet"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// Result is one side-by-side measurement.
type Result struct {
	Records     int     `json:"records"`
	RPS         float64 `json:"rps"`          // through the sink
	BaselineRPS float64 `json:"baseline_rps"` // parquet-go alone
	Ratio       float64 `json:"ratio"`        // rps / baseline_rps
}

// Schema is the benchmark's record shape: about 256 bytes of values.
var Schema = &schema.Schema{Name: "bench", Fields: []schema.Field{
	{Name: "id", Type: schema.Int64},
	{Name: "user", Type: schema.String},
	{Name: "amount", Type: schema.Float64},
	{Name: "at", Type: schema.Timestamp},
	{Name: "note", Type: schema.String, Optional: true},
}}

// Records makes n records of the benchmark shape, all in one partition.
func Records(n int) []sdk.Record {
	base := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	pad := strings.Repeat("x", 200)
	out := make([]sdk.Record, n)
	for i := range out {
		out[i] = sdk.Record{Topic: "bench", Offset: int64(i), Timestamp: base, Schema: Schema,
			Fields: map[string]any{"id": int64(i), "user": fmt.Sprintf("user-%d", i%1000),
				"amount": float64(i%10000) / 100, "at": base.Add(time.Duration(i) * time.Millisecond), "note": pad}}
	}
	return out
}

// Run writes records through the sink and, as the baseline, with
// parquet-go alone (same columns, compression and fsync), into dir. Each
// side runs rounds times, alternating, after a GC; the best round counts, so
// a burst of load from other processes hits neither side alone.
func Run(ctx context.Context, dir string, records []sdk.Record, batch, rounds int) (Result, error) {
	res := Result{Records: len(records)}
	for i := range max(rounds, 1) {
		d, err := timed(func() error {
			return throughSink(ctx, filepath.Join(dir, fmt.Sprintf("sink%d", i)), records, batch)
		})
		if err != nil {
			return res, err
		}
		res.RPS = max(res.RPS, float64(len(records))/d.Seconds())
		d, err = timed(func() error {
			return baseline(filepath.Join(dir, fmt.Sprintf("baseline%d.parquet", i)), records, batch)
		})
		if err != nil {
			return res, err
		}
		res.BaselineRPS = max(res.BaselineRPS, float64(len(records))/d.Seconds())
	}
	res.Ratio = res.RPS / res.BaselineRPS
	return res, nil
}

func timed(f func() error) (time.Duration, error) {
	runtime.GC()
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func throughSink(ctx context.Context, dir string, records []sdk.Record, batch int) error {
	p := parquet.Plugin()
	cfg, err := p.Spec.Validate(map[string]any{"path": dir, "roll.records": len(records) + 1, "roll.size": 1 << 40})
	if err != nil {
		return err
	}
	s, err := p.NewSink(cfg, sdk.Env{})
	if err != nil {
		return err
	}
	if err := s.Open(ctx); err != nil {
		return err
	}
	for i := 0; i < len(records); i += batch {
		if err := s.Write(ctx, records[i:min(i+batch, len(records))]); err != nil {
			return err
		}
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	return s.Close(ctx)
}

// baseline is what a hand-written program using parquet-go would do: a
// fixed schema, rows built straight from the values, one file.
func baseline(path string, records []sdk.Record, batch int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sch := pq.NewSchema("bench", pq.Group{
		"id": pq.Int(64), "user": pq.String(), "amount": pq.Leaf(pq.DoubleType),
		"at": pq.Timestamp(pq.Microsecond), "note": pq.Optional(pq.String()),
	})
	w := pq.NewWriter(f, sch, pq.Compression(&snappy.Codec{}), pq.MaxRowsPerRowGroup(rowGroupRows))
	rows := make([]pq.Row, 0, batch)
	vals := make([]pq.Value, 0, batch*5)
	for i := range records {
		start := len(vals)
		vals = appendBaselineRow(vals, records[i].Fields)
		rows = append(rows, vals[start:len(vals):len(vals)])
		if len(rows) == batch || i == len(records)-1 {
			if _, err := w.WriteRows(rows); err != nil {
				return err
			}
			rows, vals = rows[:0], vals[:0]
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Sync()
}

// appendBaselineRow is the row a hand-written program builds for the
// benchmark schema: columns in name order (amount, at, id, note, user),
// statically typed values, levels set in place, the cheapest way parquet-go
// offers.
func appendBaselineRow(vals []pq.Value, m map[string]any) []pq.Value {
	start := len(vals)
	vals = append(vals,
		pq.DoubleValue(m["amount"].(float64)),
		pq.Int64Value(m["at"].(time.Time).UnixMicro()),
		pq.Int64Value(m["id"].(int64)),
		pq.ByteArrayValue(view(m["note"].(string))),
		pq.ByteArrayValue(view(m["user"].(string))))
	row := vals[start:]
	for j := range row {
		row[j].SetColumnIndex(j)
	}
	row[3].SetDefinitionLevel(1) // note is optional
	return vals
}

// view gives the baseline the same zero-copy string access the sink uses, so
// the comparison measures the sink's own work.
func view(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
