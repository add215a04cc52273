package jdbcbench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/braidhq/braid/connectors/jdbc"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// Default DSNs of the loopback test databases.
const (
	DefaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test?parseTime=true&loc=UTC"
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// Options configures a run.
type Options struct {
	Dialect string // mysql or postgres
	DSN     string // default: the loopback test database of Dialect
	Rows    int    // rows loaded, upserted or read (default 100000)
	Batch   int    // records per sink Write, rows per source read (default 5000)
	// FlushRows is how many records the sink takes between Flushes, as a
	// worker commits offsets every so often rather than after each batch
	// (default 50000).
	FlushRows int
	// Prepare, when set, receives every record before the clock starts (the
	// bench command stores them in the log), and Via then hands each batch
	// to the sink in their place (read back from the log and decoded).
	Prepare func(ctx context.Context, recs []sdk.Record) error
	Via     func(ctx context.Context, recs []sdk.Record) ([]sdk.Record, error)
}

// Result is one run's figures; Ratio is RPS / BaselineRPS.
type Result struct {
	Bench       string  `json:"bench"`
	Dialect     string  `json:"dialect"`
	Rows        int     `json:"rows"`
	RPS         float64 `json:"rps"`
	BaselineRPS float64 `json:"baseline_rps"`
	Ratio       float64 `json:"ratio"`
	Baseline    string  `json:"baseline"`
	// UnorderedRPS and UnorderedRatio (jdbc-source) compare with a plain
	// unordered SELECT of the whole table, which a resumable reader cannot
	// use; the ratio above is against the keyset-ordered scan.
	UnorderedRPS   float64 `json:"unordered_baseline_rps,omitempty"`
	UnorderedRatio float64 `json:"unordered_ratio,omitempty"`
}

// WriteFunc hands records to the sink; with flush set it also makes
// everything written so far durable before returning.
type WriteFunc func(ctx context.Context, recs []sdk.Record, flush bool) error

func (o *Options) defaults() error {
	d, err := jdbc.DetectDialect(o.Dialect, o.DSN)
	if err != nil {
		return err
	}
	o.Dialect = string(d)
	if o.DSN == "" {
		o.DSN = DefaultMySQLDSN
		if d == jdbc.Postgres {
			o.DSN = DefaultPostgresDSN
		}
	}
	if o.Rows <= 0 {
		o.Rows = 100_000
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.FlushRows <= 0 {
		o.FlushRows = 50_000
	}
	return nil
}

// benchTable is the table both paths fill: (id BIGINT PK, name VARCHAR(64),
// amount DECIMAL(12,2), ts DATETIME).
type benchTable struct {
	db   *sql.DB
	d    jdbc.Dialect
	name string
}

func newBenchTable(ctx context.Context, o Options) (*benchTable, error) {
	d := jdbc.Dialect(o.Dialect)
	db, err := jdbc.Open(ctx, d, o.DSN, nil)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	t := &benchTable{db: db, d: d, name: "braid_bench_" + hex.EncodeToString(b)}
	ts := "DATETIME(6)"
	if d == jdbc.Postgres {
		ts = "timestamp"
	}
	q := fmt.Sprintf("CREATE TABLE %s (id BIGINT PRIMARY KEY, name VARCHAR(64), amount DECIMAL(12,2), ts %s)", d.Quote(t.name), ts)
	if _, err := db.ExecContext(ctx, q); err != nil {
		db.Close()
		return nil, fmt.Errorf("create bench table: %w", err)
	}
	return t, nil
}

func (t *benchTable) truncate(ctx context.Context) error {
	_, err := t.db.ExecContext(ctx, "TRUNCATE TABLE "+t.d.Quote(t.name))
	return err
}

func (t *benchTable) close() {
	_, _ = t.db.Exec("DROP TABLE IF EXISTS " + t.d.Quote(t.name))
	t.db.Close()
}

var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func rowName(i int) string                { return "customer-" + strconv.Itoa(i) }
func rowAmount(i int) string              { return strconv.Itoa(i%100000) + "." + fmt.Sprintf("%02d", i%100) }
func rowTime(i int) time.Time             { return base.Add(time.Duration(i) * time.Second) }
func rowTimeText(i int) string            { return rowTime(i).Format("2006-01-02 15:04:05") }
func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// bulkLoad fills the table with the database's own bulk path and returns
// how long it took.
func (t *benchTable) bulkLoad(ctx context.Context, rows int) (time.Duration, error) {
	start := time.Now()
	if t.d == jdbc.MySQL {
		name := "braid-bench-" + t.name
		mysql.RegisterReaderHandler(name, func() io.Reader {
			pr, pw := io.Pipe()
			go func() {
				buf := make([]byte, 0, 64<<10)
				for i := 1; i <= rows; i++ {
					buf = strconv.AppendInt(buf, int64(i), 10)
					buf = append(buf, '\t')
					buf = append(buf, rowName(i)...)
					buf = append(buf, '\t')
					buf = append(buf, rowAmount(i)...)
					buf = append(buf, '\t')
					buf = append(buf, rowTimeText(i)...)
					buf = append(buf, '\n')
					if len(buf) > 60<<10 {
						if _, err := pw.Write(buf); err != nil {
							return
						}
						buf = buf[:0]
					}
				}
				_, _ = pw.Write(buf)
				pw.Close()
			}()
			return pr
		})
		defer mysql.DeregisterReaderHandler(name)
		q := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE %s FIELDS TERMINATED BY '\\t' (id, name, amount, ts)", name, t.d.Quote(t.name))
		if _, err := t.db.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("load data: %w", err)
		}
		return time.Since(start), nil
	}
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		i := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i >= rows {
				return nil, nil
			}
			i++
			var amount pgtype.Numeric
			if err := amount.Scan(rowAmount(i)); err != nil {
				return nil, err
			}
			return []any{int64(i), rowName(i), amount, rowTime(i)}, nil
		})
		_, err := pc.CopyFrom(ctx, pgx.Identifier{t.name}, []string{"id", "name", "amount", "ts"}, src)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copy from: %w", err)
	}
	return time.Since(start), nil
}

// records builds the rows as a source would emit them: Fields, Schema, Key.
func records(rows int) []sdk.Record {
	sch := &schema.Schema{Name: "bench", Key: []string{"id"}, Fields: []schema.Field{
		{Name: "id", Type: schema.Int64}, {Name: "name", Type: schema.String, Optional: true, Length: 64},
		{Name: "amount", Type: schema.DecimalT, Precision: 12, Scale: 2, Optional: true},
		{Name: "ts", Type: schema.Timestamp, Optional: true},
	}}
	out := make([]sdk.Record, rows)
	for i := range out {
		id := i + 1
		out[i] = sdk.Record{Topic: "bench", Partition: 0, Offset: int64(id),
			Key:    []byte(`{"id":` + strconv.Itoa(id) + `}`),
			Fields: map[string]any{"id": int64(id), "name": rowName(id), "amount": schema.Decimal(rowAmount(id)), "ts": rowTime(id)},
			Schema: sch}
	}
	return out
}

// NewSinkWriter opens a jdbc-sink in upsert mode on o's database writing
// into table; WriteFunc writes and flushes.
func NewSinkWriter(ctx context.Context, o Options, table string) (WriteFunc, func(), error) {
	p := jdbc.SinkPlugin()
	cfg, err := p.Spec.Validate(map[string]any{"dsn": o.DSN, "dialect": o.Dialect, "table.name.format": table,
		"insert.mode": "upsert", "batch.size": int64(o.Batch)})
	if err != nil {
		return nil, nil, err
	}
	snk, err := p.NewSink(cfg, sdk.Env{Logger: slog.New(slog.DiscardHandler), Connector: "bench"})
	if err != nil {
		return nil, nil, err
	}
	if err := snk.Open(ctx); err != nil {
		return nil, nil, err
	}
	write := func(ctx context.Context, recs []sdk.Record, flush bool) error {
		if o.Via != nil {
			var err error
			if recs, err = o.Via(ctx, recs); err != nil {
				return err
			}
		}
		if err := snk.Write(ctx, recs); err != nil {
			return err
		}
		if !flush {
			return nil
		}
		return snk.Flush(ctx)
	}
	return write, func() { snk.Close(context.Background()) }, nil
}

// RunSink loads o.Rows rows with the bulk path (baseline), empties the table
// and upserts the same rows through write, o.Batch records per call and a
// flush every o.FlushRows records and at the end. A nil
// write uses a jdbc-sink (NewSinkWriter); the lead's harness may pass one
// that goes through the log and a worker instead.
func RunSink(ctx context.Context, o Options, write WriteFunc) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	t, err := newBenchTable(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer t.close()
	res := Result{Bench: "jdbc-sink", Dialect: o.Dialect, Rows: o.Rows, Baseline: "COPY FROM STDIN"}
	if t.d == jdbc.MySQL {
		res.Baseline = "LOAD DATA LOCAL INFILE"
	}
	base, err := t.bulkLoad(ctx, o.Rows)
	if err != nil {
		return res, err
	}
	if err := t.truncate(ctx); err != nil {
		return res, err
	}
	if write == nil {
		w, closeSink, err := NewSinkWriter(ctx, o, t.name)
		if err != nil {
			return res, err
		}
		defer closeSink()
		write = w
	}
	recs := records(o.Rows)
	if o.Prepare != nil {
		if err := o.Prepare(ctx, recs); err != nil {
			return res, fmt.Errorf("prepare: %w", err)
		}
	}
	start := time.Now()
	unflushed := 0
	for i := 0; i < len(recs); i += o.Batch {
		batch := recs[i:min(i+o.Batch, len(recs))]
		unflushed += len(batch)
		flush := unflushed >= o.FlushRows || i+o.Batch >= len(recs)
		if flush {
			unflushed = 0
		}
		if err := write(ctx, batch, flush); err != nil {
			return res, fmt.Errorf("sink write at row %d: %w", i, err)
		}
	}
	took := time.Since(start)
	var n int
	if err := t.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.d.Quote(t.name)).Scan(&n); err != nil {
		return res, err
	}
	if n != o.Rows {
		return res, fmt.Errorf("sink wrote %d rows, want %d", n, o.Rows)
	}
	res.RPS, res.BaselineRPS = rate(o.Rows, took), rate(o.Rows, base)
	res.Ratio = res.RPS / res.BaselineRPS
	return res, nil
}

// RunSource bulk-loads o.Rows rows and reads them through a jdbc-source in
// incrementing mode, beside two baselines of plain driver scans: the
// keyset-ordered one a resumable reader must do (the same query shape the
// source streams: WHERE id > last ORDER BY id LIMIT 50 × batch, again from
// the last id until nothing comes) — the ratio's baseline — and an unordered
// SELECT of the whole table.
func RunSource(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	t, err := newBenchTable(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer t.close()
	chunk := 50 * o.Batch
	res := Result{Bench: "jdbc-source", Dialect: o.Dialect, Rows: o.Rows,
		Baseline: fmt.Sprintf("keyset-ordered SELECT scan (ORDER BY id LIMIT %d per query)", chunk)}
	if _, err := t.bulkLoad(ctx, o.Rows); err != nil {
		return res, err
	}
	unordered, err := t.scan(ctx)
	if err != nil {
		return res, err
	}
	ordered, err := t.keysetScan(ctx, chunk)
	if err != nil {
		return res, err
	}
	took, err := readSource(ctx, o, t.name)
	if err != nil {
		return res, err
	}
	res.RPS, res.BaselineRPS, res.UnorderedRPS = rate(o.Rows, took), rate(o.Rows, ordered), rate(o.Rows, unordered)
	res.Ratio, res.UnorderedRatio = res.RPS/res.BaselineRPS, res.RPS/res.UnorderedRPS
	return res, nil
}

func (t *benchTable) scan(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := t.scanQuery(ctx, "SELECT id, name, amount, ts FROM "+t.d.Quote(t.name))
	return time.Since(start), err
}

// keysetScan reads the table in id order, chunk rows per query.
func (t *benchTable) keysetScan(ctx context.Context, chunk int) (time.Duration, error) {
	start := time.Now()
	last := int64(-1 << 62)
	for {
		q := fmt.Sprintf("SELECT id, name, amount, ts FROM %s WHERE id > %d ORDER BY id LIMIT %d", t.d.Quote(t.name), last, chunk)
		n, err := t.scanQuery(ctx, q, &last)
		if err != nil || n < chunk {
			return time.Since(start), err
		}
	}
}

// scanQuery runs q and scans every row into generic values, as a plain
// driver client would; with lastID it keeps the last row's id.
func (t *benchTable) scanQuery(ctx context.Context, q string, lastID ...*int64) (int, error) {
	rows, err := t.db.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var id int64
	vals := make([]any, 3)
	ptrs := []any{&id, &vals[0], &vals[1], &vals[2]}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		n++
	}
	if len(lastID) > 0 && n > 0 {
		*lastID[0] = id
	}
	return n, rows.Err()
}

func readSource(ctx context.Context, o Options, table string) (time.Duration, error) {
	p := jdbc.SourcePlugin()
	cfg, err := p.Spec.Validate(map[string]any{"dsn": o.DSN, "dialect": o.Dialect, "tables": table,
		"mode": "incrementing", "incrementing.column": "id", "batch.max.rows": int64(o.Batch), "poll.interval": "1h"})
	if err != nil {
		return 0, err
	}
	src, err := p.NewSource(cfg, sdk.Env{Logger: slog.New(slog.DiscardHandler), Connector: "bench"})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := src.Open(ctx, nil); err != nil {
		return 0, err
	}
	defer src.Close(context.Background())
	n := 0
	for n < o.Rows {
		recs, err := src.Read(ctx)
		if errors.Is(err, sdk.ErrBackoff) {
			break
		}
		if err != nil {
			return 0, err
		}
		n += len(recs)
	}
	took := time.Since(start)
	if n != o.Rows {
		return 0, fmt.Errorf("source read %d rows, want %d", n, o.Rows)
	}
	return took, nil
}
