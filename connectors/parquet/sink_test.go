package parquet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
	"github.com/braidhq/braid/schema"
)

func newTestSink(t *testing.T, raw map[string]any) *Sink {
	t.Helper()
	return newTestSinkEnv(t, raw, sdk.Env{})
}

func newTestSinkEnv(t *testing.T, raw map[string]any, env sdk.Env) *Sink {
	t.Helper()
	cfg, err := spec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s.(*Sink)
}

func writeFlush(t *testing.T, s *Sink, recs []sdk.Record) {
	t.Helper()
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func duck(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var hour13 = time.Date(2026, 11, 27, 13, 5, 0, 0, time.UTC)

func TestSchemaTypesReadBackWithDuckDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sc := &schema.Schema{Name: "orders", Fields: []schema.Field{
		{Name: "id", Type: schema.Int64},
		{Name: "qty", Type: schema.Int32},
		{Name: "price", Type: schema.DecimalT, Precision: 10, Scale: 2},
		{Name: "big", Type: schema.DecimalT, Precision: 30, Scale: 3, Optional: true},
		{Name: "small", Type: schema.DecimalT, Precision: 5, Scale: 1, Optional: true},
		{Name: "at", Type: schema.Timestamp},
		{Name: "day", Type: schema.Date, Optional: true},
		{Name: "name", Type: schema.String, Optional: true},
		{Name: "ok", Type: schema.Boolean},
		{Name: "ratio", Type: schema.Float64, Optional: true},
		{Name: "tags", Type: schema.Array, Items: &schema.Field{Type: schema.String}, Optional: true},
	}}
	var recs []sdk.Record
	for i := range 5 {
		f := map[string]any{"id": int64(i + 1), "qty": i, "price": schema.Decimal(fmt.Sprintf("%d.25", i)),
			"big": schema.Decimal(fmt.Sprintf("-123456789012345678901234.%03d", i)), "small": "-12.5",
			"at": hour13.Add(time.Duration(i) * time.Second), "day": "2026-11-27", "ok": i%2 == 0,
			"tags": []any{"a", "b"}}
		if i != 3 {
			f["name"] = fmt.Sprintf("n%d", i)
			f["ratio"] = float64(i) / 2
		}
		recs = append(recs, sdk.Record{Topic: "orders", Partition: 2, Offset: int64(10 + i), Fields: f, Schema: sc, Timestamp: hour13})
	}
	s := newTestSink(t, map[string]any{"path": dir, "compression": "zstd"})
	writeFlush(t, s, recs)
	want := []string{"topic=orders/date=2026-11-27/hour=13/part-p2-000000000000010-000000000000014.parquet"}
	if got := files(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v", got)
	}
	db := duck(t)
	q := fmt.Sprintf(`SELECT count(*), sum(id), sum(price)::VARCHAR, min(big)::VARCHAR, min(small)::VARCHAR, max("at")::VARCHAR,
		min(day)::VARCHAR, count(name), sum(ratio), count(*) FILTER (WHERE ok), min(tags)::VARCHAR,
		(SELECT string_agg(column_name || ':' || column_type, ',' ORDER BY column_name) FROM (DESCRIBE SELECT * FROM read_parquet('%[1]s')))
		FROM read_parquet('%[1]s')`, filepath.Join(dir, want[0]))
	var n, sumID, named, oks int
	var sumPrice, minBig, minSmall, maxAt, minDay, tags, types string
	var ratio float64
	if err := db.QueryRow(q).Scan(&n, &sumID, &sumPrice, &minBig, &minSmall, &maxAt, &minDay, &named, &ratio, &oks, &tags, &types); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(fmt.Sprintln(n, sumID, sumPrice, minBig, minSmall, maxAt, minDay, named, ratio, oks, tags))
	if w := "5 15 11.25 -123456789012345678901234.004 -12.5 2026-11-27 13:05:04+00 2026-11-27 4 3.5 3 [\"a\",\"b\"]"; got != w {
		t.Fatalf("values\n got %s\nwant %s", got, w)
	}
	wantTypes := "at:TIMESTAMP WITH TIME ZONE,big:DECIMAL(30,3),date:DATE,day:DATE,hour:BIGINT,id:BIGINT,name:VARCHAR,ok:BOOLEAN," +
		"price:DECIMAL(10,2),qty:INTEGER,ratio:DOUBLE,small:DECIMAL(5,1),tags:JSON,topic:VARCHAR" // date, hour and topic: DuckDB reads the Hive directories
	if types != wantTypes {
		t.Fatalf("types\n got %s\nwant %s", types, wantTypes)
	}
}

func TestInferredColumnsTimeFieldAndWidening(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := newTestSinkEnv(t, map[string]any{"path": dir, "time.field": "ts", "partition.by": "day"}, sdk.Env{Logger: logger})
	ingested := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	recs := []sdk.Record{
		{Topic: "ev", Offset: 1, Value: []byte(`{"ts":"2026-11-27T10:00:00Z","user":"a","n":1}`)},
		{Topic: "ev", Offset: 2, Value: []byte(`{"ts":"2026-11-28T10:00:00Z","user":"b","n":2}`)},
		{Topic: "ev", Offset: 3, Value: []byte(`{"ts":"2026-11-27T11:00:00Z","user":"c","n":3,"extra":true}`)},
		{Topic: "ev", Offset: 4, Value: []byte(`{"user":"no time","n":4}`), Timestamp: ingested},
		{Topic: "ev", Offset: 5, Value: []byte(`{"ts":"soon","user":"bad time","n":5}`), Timestamp: ingested},
	}
	writeFlush(t, s, recs)
	got := files(t, dir)
	want := []string{
		"topic=ev/date=2026-11-27/part-p0-000000000000001-000000000000001.parquet",
		"topic=ev/date=2026-11-27/part-p0-000000000000003-000000000000003.parquet",
		"topic=ev/date=2026-11-28/part-p0-000000000000002-000000000000002.parquet",
		"topic=ev/date=2026-11-29/part-p0-000000000000004-000000000000004.parquet", // ingestion time
		"topic=ev/date=2026-11-29/part-p0-000000000000005-000000000000005.parquet", // widened by ts
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v", got)
	}
	var n int
	var users string
	q := fmt.Sprintf(`SELECT count(*), string_agg(user || ':' || coalesce(extra::VARCHAR, '-') || ':' || coalesce(ts, '-'), ',' ORDER BY n)
		FROM read_parquet('%s/topic=ev/*/*.parquet', union_by_name=true)`, dir)
	if err := duck(t).QueryRow(q).Scan(&n, &users); err != nil {
		t.Fatal(err)
	}
	if w := "a:-:2026-11-27T10:00:00Z,b:-:2026-11-28T10:00:00Z,c:true:2026-11-27T11:00:00Z,no time:-:-,bad time:-:soon"; n != 5 || users != w {
		t.Fatalf("rows %d\n got %q\nwant %q", n, users, w)
	}
	for _, w := range []string{"level=WARN", "partitioned by ingestion time", "topic=ev", "offset=4", "records=2", `time field \"ts\" is missing`} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("warning lacks %s: %s", w, logs.String())
		}
	}
}

func TestReplayOffsetsRollAndCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mk := func(from, to int64) []sdk.Record {
		var out []sdk.Record
		for o := from; o <= to; o++ {
			out = append(out, sdk.Record{Topic: "t", Offset: o, Timestamp: hour13, Fields: map[string]any{"o": o}})
		}
		return out
	}
	s := newTestSink(t, map[string]any{"path": dir, "roll.records": 4})
	writeFlush(t, s, mk(1, 10)) // files 1-4, 5-8, 9-10
	if got := files(t, dir); len(got) != 3 || !strings.HasSuffix(got[1], "part-p0-000000000000005-000000000000008.parquet") {
		t.Fatalf("files %v", got)
	}
	if err := s.Write(context.Background(), mk(11, 12)); err != nil { // never flushed: a crash
		t.Fatal(err)
	}
	s2 := newTestSink(t, map[string]any{"path": dir, "roll.records": 100})
	off, err := s2.WrittenOffsets(context.Background(), []sdk.TopicPartition{{Topic: "t"}})
	if err != nil || off[sdk.TopicPartition{Topic: "t"}] != 10 {
		t.Fatalf("written offsets %v %v", off, err)
	}
	writeFlush(t, s2, mk(1, 12)) // a replay from the start replaces the three files
	got := files(t, dir)
	if len(got) != 1 || !strings.HasSuffix(got[0], "part-p0-000000000000001-000000000000012.parquet") {
		t.Fatalf("after replay %v", got)
	}
	var n, sum int
	if err := duck(t).QueryRow(fmt.Sprintf(`SELECT count(*), sum(o) FROM read_parquet('%s/**/*.parquet')`, dir)).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 12 || sum != 78 {
		t.Fatalf("rows %d sum %d", n, sum)
	}
}

func TestBadRecordsAndConfinement(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "lake")
	s := newTestSink(t, map[string]any{"path": dir})
	sc := &schema.Schema{Fields: []schema.Field{{Name: "n", Type: schema.Int32}}}
	recs := []sdk.Record{
		{Topic: "../x", Offset: 1, Fields: map[string]any{"n": 1}},
		{Topic: "ok", Offset: 2, Fields: map[string]any{"n": 1}, Schema: sc},
		{Topic: "ok", Offset: 3, Fields: map[string]any{"n": "many"}, Schema: sc},
		{Topic: "ok", Offset: 4, Fields: map[string]any{}, Schema: sc},
		{Topic: "ok", Offset: 5, Value: []byte("not json")},
	}
	err := s.Write(context.Background(), recs)
	var be *sdk.BatchError
	if !errors.As(err, &be) || len(be.Records) != 4 {
		t.Fatalf("want 4 rejected records, got %v", err)
	}
	for _, want := range []string{`topic "../x"`, `field "n"`, "offset 4", "offset 5"} {
		if !strings.Contains(err.Error()+be.Records[3].Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	s.Flush(context.Background())
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Fatalf("written outside the dataset: %v", entries)
	}
}

func TestConformance(t *testing.T) {
	var recs []sdk.Record
	for i := range 20 {
		recs = append(recs, sdk.Record{Topic: "c", Offset: int64(i), Value: fmt.Appendf(nil, `{"i":%d}`, i)})
	}
	dir := t.TempDir()
	sdktest.RunSink(t, Plugin(), sdktest.SinkCase{Config: map[string]any{"path": dir, "partition.by": "none", "roll.records": 4}, Records: recs,
		Reject: &sdk.Record{Value: []byte("this is not json")},
		Check: func(t *testing.T, _ []sdk.Record) {
			var n int
			if err := duck(t).QueryRow(fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/topic=c/*.parquet')`, dir)).Scan(&n); err != nil || n != 20 {
				t.Fatalf("rows %d: %v", n, err)
			}
		}})
}
