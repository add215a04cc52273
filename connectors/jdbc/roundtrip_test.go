package jdbc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

const typedColumns = "id, i, b, f, num, txt, vc, bin, d, dt, tm, js"

// typedTable creates a table with one column of each supported type and
// fills it with a row of values (unicode, 1 MiB text and blob), a row of
// NULLs and a row of edge values.
func typedTable(t *testing.T, d Dialect) (string, []map[string]any) {
	db := openDB(t, d)
	name := tableName(t, db, d, "typed")
	var ddl, ins string
	if d == MySQL {
		ddl = `CREATE TABLE %s (id BIGINT PRIMARY KEY, i INT, b BOOLEAN, f DOUBLE, num DECIMAL(20,6), txt LONGTEXT,
vc VARCHAR(100), bin LONGBLOB, d DATE, dt DATETIME(6), tm TIME(6), js JSON)`
		ins = "INSERT INTO %s (" + typedColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
	} else {
		ddl = `CREATE TABLE %s (id bigint PRIMARY KEY, i integer, b boolean, f double precision, num numeric(20,6), txt text,
vc varchar(100), bin bytea, d date, dt timestamptz, tm time, js jsonb)`
		ins = "INSERT INTO %s (" + typedColumns + ") VALUES ($1,$2,$3,$4,$5::text::numeric,$6,$7,$8,$9,$10,$11::text::time,$12::text::jsonb)"
	}
	mustExec(t, db, fmt.Sprintf(ddl, d.Quote(name)))
	big := strings.Repeat("ü€𝄞x", 1<<20/10)
	blob := bytes.Repeat([]byte{0, 1, 2, 0xff, 'a'}, 1<<20/5)
	berlin := time.FixedZone("CEST", 2*3600)
	rows := []map[string]any{
		{"id": int64(1), "i": int64(-42), "b": true, "f": 3.25, "num": "12345678901234.500001",
			"txt": big, "vc": "héllo wörld ✓ 日本語 🚀 'quote\" `back`", "bin": blob,
			"d": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "dt": time.Date(2024, 3, 31, 2, 30, 0, 123456000, berlin),
			"tm": "23:59:58.500000", "js": `{"a": [1, 2.5, "x"], "b": null, "ü": true}`},
		{"id": int64(2)},
		{"id": int64(3), "i": int64(2147483647), "b": false, "f": -0.5, "num": "-0.000001",
			"txt": "", "vc": "", "bin": []byte{}, "d": time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
			"dt": time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC), "tm": "00:00:00", "js": `[]`},
	}
	cols := strings.Split(typedColumns, ", ")
	for _, r := range rows {
		args := make([]any, len(cols))
		for i, c := range cols {
			args[i] = r[c]
		}
		mustExec(t, db, fmt.Sprintf(ins, d.Quote(name)), args...)
	}
	return name, rows
}

// canonical renders a value read back from either database comparably.
func canonical(col string, v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		if col == "d" {
			return x.Format("2006-01-02")
		}
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return hex.EncodeToString(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case schema.Decimal:
		return string(x)
	case string:
		if col == "js" {
			var a any
			if json.Unmarshal([]byte(x), &a) == nil {
				b, _ := json.Marshal(a)
				return string(b)
			}
		}
		if col == "num" {
			return x
		}
		return x
	case int32, int64:
		return fmt.Sprint(x)
	case float64:
		return fmt.Sprint(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func readTable(t *testing.T, d Dialect, name string) []sdk.Record {
	src := newTestSource(t, map[string]any{"dsn": dsnOf(d), "tables": name, "mode": "incrementing",
		"incrementing.column": "id", "batch.max.rows": 2, "topic": "${table}"})
	if err := src.Open(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	return readAll(t, src)
}

// TestRoundTrip copies every supported column type from each database to
// each database through the source and the sink, and compares the rows.
func TestRoundTrip(t *testing.T) {
	for _, from := range dialects {
		for _, to := range dialects {
			t.Run(from.name+"_to_"+to.name, func(t *testing.T) {
				name, want := typedTable(t, from.d)
				recs := readTable(t, from.d, name)
				if len(recs) != len(want) {
					t.Fatalf("source read %d records, want %d", len(recs), len(want))
				}
				dstDB := openDB(t, to.d)
				for _, statements := range []bool{false, true} {
					target := tableName(t, dstDB, to.d, "copy")
					snk := newTestSink(t, map[string]any{"dsn": to.dsn, "auto.create": true,
						"table.name.format": target})
					snk.noCopy = statements
					if err := snk.Write(ctxT(t), recs); err != nil {
						t.Fatal(err)
					}
					if err := snk.Flush(ctxT(t)); err != nil {
						t.Fatal(err)
					}
					if snk.bulkFallbacks != 0 {
						t.Errorf("the bulk path refused %d chunks of a fresh table", snk.bulkFallbacks)
					}
					compareRows(t, want, readTable(t, to.d, target))
				}
			})
		}
	}
}

func compareRows(t *testing.T, want []map[string]any, got []sdk.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("target has %d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		for _, c := range strings.Split(typedColumns, ", ") {
			wv, gv := canonical(c, w[c]), canonical(c, got[i].Fields[c])
			if c == "num" && w[c] == nil {
				wv = "NULL"
			}
			if c == "tm" && w[c] != nil {
				wv, gv = normDec(w[c].(string)), normDec(gv)
			}
			if c == "js" && w[c] != nil {
				wv = canonical("js", w[c])
			}
			if c == "num" && w[c] != nil {
				wv = normDec(w[c].(string))
				gv = normDec(gv)
			}
			if wv != gv {
				t.Errorf("row %d column %s: got %.80s, want %.80s", i, c, gv, wv)
			}
		}
	}
}

func normDec(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
}
