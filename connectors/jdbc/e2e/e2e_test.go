package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/jdbc"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
)

const (
	mysqlDSN    = "root@tcp(127.0.0.1:3306)/test"
	postgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// side is one database of a copy: how to reach it and its test table.
type side struct {
	dialect jdbc.Dialect
	dsn     string
	db      *sql.DB // in UTC, as the connectors see it
}

func open(t *testing.T, d jdbc.Dialect, dsn string) side {
	t.Helper()
	db, err := jdbc.Open(t.Context(), d, dsn, nil)
	if err != nil {
		t.Fatalf("%s at %s is needed by this test: %v", d, strings.SplitN(dsn, "@", 2)[1], err)
	}
	t.Cleanup(func() { db.Close() })
	return side{dialect: d, dsn: dsn, db: db}
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func dropLater(t *testing.T, s side, table string) {
	t.Cleanup(func() { _, _ = s.db.Exec("DROP TABLE IF EXISTS " + s.dialect.Quote(table)) })
}

// column names and how to compare them: "" exact text, "time" a TIME value
// (trailing zeros of the fraction ignored), "bool" 1/true, "json" a parsed
// document.
type column struct{ name, cmp string }

// runCopy applies a pipeline src table → topic → dst table (upsert,
// auto.create) and waits until dst has want rows.
func runCopy(t *testing.T, src, dst side, srcTable, dstTable, mode string, want int) {
	t.Helper()
	builtin.RegisterConverters()
	eng, err := engine.Start(t.Context(), engine.Options{Plugins: builtin.Plugins(), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := eng.Close(ctx); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	srcCfg := `mode: incrementing, incrementing.column: id`
	if mode == "timestamp+incrementing" {
		srcCfg = `mode: timestamp+incrementing, timestamp.column: changed_at, incrementing.column: id`
	}
	topic := strings.ReplaceAll(dstTable, "_", "-")
	yaml := fmt.Sprintf(`version: 1
name: %s
topics:
  %s: { partitions: 2 }
sources:
  src:
    connector: jdbc-source
    topic: %s
    config: { dsn: %q, %s, tables: [%s], poll.interval: 100ms }
sinks:
  dst:
    connector: jdbc-sink
    topics: [%s]
    config: { dsn: %q, insert.mode: upsert, auto.create: true, table.name.format: %s }
`, topic, topic, topic, src.dsn, srcCfg, srcTable, topic, dst.dsn, dstTable)
	p, lints := pipelines.Parse("e2e.yaml", []byte(yaml), eng.Catalog(), func(string) (string, bool) { return "", false })
	for _, l := range lints {
		t.Fatalf("%s\n%s", l.String(), yaml)
	}
	if _, err := eng.Apply(t.Context(), p, false); err != nil {
		t.Fatalf("apply: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for n := -1; n != want; {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d rows after 60 s, want %d; engine status %+v", dstTable, n, want, eng.Status())
		}
		time.Sleep(50 * time.Millisecond) // polling interval, with the deadline above
		// The table appears with the sink's first write.
		_ = dst.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+dst.dialect.Quote(dstTable)).Scan(&n)
	}
}

// compareTables fails unless both tables hold the same rows (ordered by id).
func compareTables(t *testing.T, src, dst side, srcTable, dstTable string, cols []column) {
	t.Helper()
	a, b := readRows(t, src, srcTable, cols), readRows(t, dst, dstTable, cols)
	if len(a) != len(b) {
		t.Fatalf("source has %d rows, target %d", len(a), len(b))
	}
	for i := range a {
		for j, c := range cols {
			if !same(c.cmp, a[i][j], b[i][j]) {
				t.Errorf("row %d column %s: source %q, target %q", i, c.name, a[i][j], b[i][j])
			}
		}
	}
}

func readRows(t *testing.T, s side, table string, cols []column) [][]string {
	t.Helper()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = s.dialect.Quote(c.name)
	}
	rows, err := s.db.QueryContext(t.Context(), "SELECT "+strings.Join(names, ", ")+" FROM "+s.dialect.Quote(table)+" ORDER BY "+s.dialect.Quote("id"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = canon(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// canon renders a scanned value as comparable text.
func canon(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func same(cmp, a, b string) bool {
	if a == b {
		return true
	}
	switch cmp {
	case "time":
		trim := func(s string) string {
			if strings.Contains(s, ".") {
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
			}
			return s
		}
		return trim(a) == trim(b)
	case "bool":
		norm := map[string]string{"1": "true", "0": "false"}
		if n, ok := norm[a]; ok {
			a = n
		}
		if n, ok := norm[b]; ok {
			b = n
		}
		return a == b
	case "json":
		var x, y any
		return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
	}
	return false
}

// columnTypes returns data_type (with precision and scale for decimals) of
// every column of table.
func columnTypes(t *testing.T, s side, table string) map[string]string {
	t.Helper()
	where := "table_schema = DATABASE()"
	q := "SELECT column_name, data_type, COALESCE(numeric_precision, 0), COALESCE(numeric_scale, 0) FROM information_schema.columns WHERE table_name = ? AND "
	if s.dialect == jdbc.Postgres {
		where = "table_schema = current_schema()"
		q = strings.Replace(q, "?", "$1", 1)
	}
	rows, err := s.db.QueryContext(t.Context(), q+where, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		var p, sc int
		if err := rows.Scan(&name, &typ, &p, &sc); err != nil {
			t.Fatal(err)
		}
		if typ == "numeric" || typ == "decimal" {
			typ = fmt.Sprintf("%s(%d,%d)", typ, p, sc)
		}
		out[name] = typ
	}
	return out
}

func checkTypes(t *testing.T, s side, table string, want map[string]string) {
	t.Helper()
	got := columnTypes(t, s, table)
	for col, typ := range want {
		if got[col] != typ {
			t.Errorf("auto-created %s.%s is %q, want %q", table, col, got[col], typ)
		}
	}
}

// Every MariaDB column type the source reads arrives in PostgreSQL with an
// exact column type and the same value: NULLs, unicode, exact decimals,
// timestamps written in another zone.
func TestMariaDBToPostgres(t *testing.T) {
	t.Parallel()
	src, dst := open(t, jdbc.MySQL, mysqlDSN), open(t, jdbc.Postgres, postgresDSN)
	srcTable, dstTable := uniqueName("e2e_my_"), uniqueName("e2e_pg_")
	dropLater(t, src, srcTable)
	dropLater(t, dst, dstTable)
	exec(t, src.db, "CREATE TABLE "+src.dialect.Quote(srcTable)+` (
		id BIGINT AUTO_INCREMENT PRIMARY KEY, small_n INT, big_n BIGINT, flag BOOLEAN,
		amount DECIMAL(12,2), big_dec DECIMAL(30,10), ratio DOUBLE, f FLOAT,
		name VARCHAR(100), body TEXT, data VARBINARY(64), d DATE, tm TIME(6),
		dt DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, doc JSON,
		changed_at DATETIME(6) NOT NULL DEFAULT '2024-01-01 00:00:00')`)
	// Written at +02:00: TIMESTAMP converts to UTC, DATETIME keeps the text.
	ins, err := sql.Open("mysql", mysqlDSN+"?time_zone=%27%2B02%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	q := "INSERT INTO " + src.dialect.Quote(srcTable) + ` (small_n, big_n, flag, amount, big_dec, ratio, f, name, body, data, d, tm, dt, ts, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	exec(t, ins, q, 42, int64(1)<<40, true, "12345.67", "12345678901234567890.0123456789", 0.1, 1.5,
		"Zoë 東京 🚀", "tab\there\nnew line \\ back", []byte{0, 1, 2, 0xff, '\t', '\\'}, "2024-02-29", "10:11:12.5",
		"2024-02-29 23:59:59.999999", "2024-05-01 12:00:00.123456", `{"k": "ü", "n": [1, 2.5]}`)
	exec(t, ins, "INSERT INTO "+src.dialect.Quote(srcTable)+" () VALUES ()") // all NULL
	exec(t, ins, q, -2147483648, int64(9223372036854775807), false, "-0.01", "0.0000000001", -1e-300, -2.5,
		"", "", []byte{}, "1970-01-01", "00:00:00", "1970-01-01 00:00:00", "1999-12-31 23:59:59", `[]`)
	for i := 0; i < 40; i++ {
		exec(t, ins, q, i, i*1000, i%2 == 0, fmt.Sprintf("%d.%02d", i, i), fmt.Sprintf("%d.5", i), float64(i)/4, float32(i)/2,
			fmt.Sprintf("row %d ☃", i), strings.Repeat("x", i), []byte{byte(i)}, "2024-01-02", "23:59:59.999999",
			"2024-01-02 03:04:05", "2024-01-02 03:04:05", fmt.Sprintf(`{"i": %d}`, i))
	}
	runCopy(t, src, dst, srcTable, dstTable, "timestamp+incrementing", 43)
	compareTables(t, src, dst, srcTable, dstTable, []column{
		{"id", ""}, {"small_n", ""}, {"big_n", ""}, {"flag", "bool"}, {"amount", ""}, {"big_dec", ""},
		{"ratio", ""}, {"f", ""}, {"name", ""}, {"body", ""}, {"data", ""}, {"d", ""}, {"tm", "time"},
		{"dt", ""}, {"ts", ""}, {"doc", ""}, {"changed_at", ""}})
	checkTypes(t, dst, dstTable, map[string]string{
		"id": "bigint", "small_n": "integer", "big_n": "bigint", "amount": "numeric(12,2)",
		"big_dec": "numeric(30,10)", "ratio": "double precision", "f": "real", "name": "character varying",
		"body": "text", "data": "bytea", "d": "date", "tm": "time without time zone",
		"dt": "timestamp with time zone", "ts": "timestamp with time zone"})
	var ts time.Time
	if err := dst.db.QueryRowContext(t.Context(), "SELECT ts FROM "+dst.dialect.Quote(dstTable)+" WHERE id = 1").Scan(&ts); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 5, 1, 10, 0, 0, 123456000, time.UTC); !ts.Equal(want) {
		t.Errorf("ts written at +02:00 arrived as %s, want %s", ts, want)
	}
}

// Every PostgreSQL column type the source reads arrives in MariaDB with an
// exact column type and the same value.
func TestPostgresToMariaDB(t *testing.T) {
	t.Parallel()
	src, dst := open(t, jdbc.Postgres, postgresDSN), open(t, jdbc.MySQL, mysqlDSN)
	srcTable, dstTable := uniqueName("e2e_pg_"), uniqueName("e2e_my_")
	dropLater(t, src, srcTable)
	dropLater(t, dst, dstTable)
	exec(t, src.db, "CREATE TABLE "+src.dialect.Quote(srcTable)+` (
		id bigserial PRIMARY KEY, small_n integer, tiny_n smallint, big_n bigint, flag boolean,
		amount numeric(12,2), big_dec numeric(30,10), ratio double precision, f real,
		name varchar(100), body text, data bytea, d date, tm time, ts timestamp, tstz timestamptz, doc jsonb)`)
	q := "INSERT INTO " + src.dialect.Quote(srcTable) + ` (small_n, tiny_n, big_n, flag, amount, big_dec, ratio, f, name, body, data, d, tm, ts, tstz, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
	exec(t, src.db, q, 42, 7, int64(1)<<40, true, "12345.67", "12345678901234567890.0123456789", 0.1, 1.5,
		"Zoë 東京 🚀", "tab\there\nnew line \\ back", []byte{0, 1, 2, 0xff, '\t', '\\'}, "2024-02-29", "10:11:12.5",
		"2024-02-29 23:59:59.999999", "2024-05-01 12:00:00.123456+02", `{"k": "ü", "n": [1, 2.5]}`)
	exec(t, src.db, "INSERT INTO "+src.dialect.Quote(srcTable)+" DEFAULT VALUES") // all NULL
	exec(t, src.db, q, -2147483648, -32768, int64(9223372036854775807), false, "-0.01", "0.0000000001", -1e-300, -2.5,
		"", "", []byte{}, "1970-01-01", "00:00:00", "1970-01-01 00:00:00", "1999-12-31 23:59:59-08", `[]`)
	for i := 0; i < 40; i++ {
		exec(t, src.db, q, i, i, i*1000, i%2 == 0, fmt.Sprintf("%d.%02d", i, i), fmt.Sprintf("%d.5", i), float64(i)/4, float32(i)/2,
			fmt.Sprintf("row %d ☃", i), strings.Repeat("x", i), []byte{byte(i)}, "2024-01-02", "23:59:59.999999",
			"2024-01-02 03:04:05", "2024-01-02 03:04:05+05:30", fmt.Sprintf(`{"i": %d}`, i))
	}
	runCopy(t, src, dst, srcTable, dstTable, "incrementing", 43)
	compareTables(t, src, dst, srcTable, dstTable, []column{
		{"id", ""}, {"small_n", ""}, {"tiny_n", ""}, {"big_n", ""}, {"flag", "bool"}, {"amount", ""}, {"big_dec", ""},
		{"ratio", ""}, {"f", ""}, {"name", ""}, {"body", ""}, {"data", ""}, {"d", ""}, {"tm", "time"},
		{"ts", ""}, {"tstz", ""}, {"doc", "json"}})
	checkTypes(t, dst, dstTable, map[string]string{
		"id": "bigint", "small_n": "int", "tiny_n": "int", "big_n": "bigint", "flag": "tinyint",
		"amount": "decimal(12,2)", "big_dec": "decimal(30,10)", "ratio": "double", "f": "float",
		"name": "varchar", "body": "longtext", "data": "longblob", "d": "date", "tm": "time",
		"ts": "datetime", "tstz": "datetime"})
}
