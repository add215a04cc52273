package mysqlcdc

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// snapshot reads the captured tables in primary-key order, one chunk per
// query, with no lock: streaming starts afterwards at the binlog position
// read before the first chunk, so every change a chunk may have missed or
// already seen is replayed, and an upserting sink converges on the origin.
type snapshot struct {
	src      *source
	start    position // where streaming begins; Snap is the progress
	tables   []string // db.table, sorted; the first is the current one
	cur      *table
	pending  []sdk.Record
	done     bool
	estimate int64
}

func (s *source) newSnapshot(ctx context.Context, start position) (*snapshot, error) {
	names, err := s.capturedTables(ctx)
	if err != nil {
		return nil, err
	}
	sn := &snapshot{src: s, start: start}
	for _, n := range names {
		if start.Snap.Table == "" || n >= start.Snap.Table {
			sn.tables = append(sn.tables, n)
		}
	}
	if len(sn.tables) > 0 && sn.tables[0] != start.Snap.Table {
		sn.start.Snap = &snapPos{Table: sn.tables[0]}
	}
	for _, n := range sn.tables {
		db, name, _ := strings.Cut(n, ".")
		var rows sql.NullInt64
		_ = s.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, name).Scan(&rows)
		sn.estimate += rows.Int64
	}
	return sn, nil
}

// capturedTables lists the base tables tables and exclude.tables select.
func (s *source) capturedTables(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "+
		"AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var db, name string
		if err := rows.Scan(&db, &name); err != nil {
			return nil, err
		}
		if s.cfg.captures(db, name) {
			out = append(out, db+"."+name)
		}
	}
	sort.Strings(out)
	return out, rows.Err()
}

func (sn *snapshot) close() {}

// read returns the next rows, and done once every table is read.
func (sn *snapshot) read(ctx context.Context, max int) ([]sdk.Record, bool, error) {
	for len(sn.pending) == 0 {
		if len(sn.tables) == 0 {
			return nil, true, nil
		}
		if err := sn.fetch(ctx); err != nil {
			return nil, false, err
		}
	}
	n := min(max, len(sn.pending))
	out := sn.pending[:n:n]
	sn.pending = sn.pending[n:]
	return out, false, nil
}

// fetch reads the next chunk of the current table, moving to the next
// table when it is exhausted.
func (sn *snapshot) fetch(ctx context.Context) error {
	s := sn.src
	name := sn.tables[0]
	db, tbl, _ := strings.Cut(name, ".")
	if sn.cur == nil || sn.cur.db != db || sn.cur.name != tbl {
		t, err := describeTable(ctx, s.db, s.flavor, db, tbl)
		if err != nil {
			return err
		}
		if len(t.key) == 0 {
			return sdk.Fatal(fmt.Errorf("table %s has no primary key: the snapshot pages by it; add one or exclude the table", name))
		}
		sn.cur = t
	}
	t := sn.cur
	rows, err := readChunk(ctx, s.db, t, sn.start.Snap.Key, s.cfg.chunk)
	if err != nil {
		return err
	}
	ts := time.Now().UTC()
	enc := newSnapEncoder(sn.start, name)
	at := sn.start.File + ":" + strconv.FormatUint(uint64(sn.start.Pos), 10)
	for _, r := range rows {
		rec, err := t.record(sdk.OpSnapshot, nil, r.fields, enc.encode(r.key), ts, at, "")
		if err != nil {
			return err
		}
		sn.pending = append(sn.pending, rec)
	}
	if len(rows) > 0 {
		sn.start.Snap = &snapPos{Table: name, Key: rows[len(rows)-1].key}
	}
	n := len(rows)
	if n < s.cfg.chunk {
		sn.tables = sn.tables[1:]
		if len(sn.tables) > 0 {
			sn.start.Snap = &snapPos{Table: sn.tables[0]}
		}
	}
	return nil
}

// chunkRow is one row a chunk read: its fields and its primary key's
// values as the server printed them (the next chunk starts after them).
type chunkRow struct {
	fields map[string]any
	key    [][]byte
}

// readChunk reads up to limit rows of t in primary-key order after the key
// after (from the first row when nil), with no lock.
func readChunk(ctx context.Context, db *sql.DB, t *table, after [][]byte, limit int) ([]chunkRow, error) {
	name := t.db + "." + t.name
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = quote(c.field.Name)
	}
	keys := make([]string, len(t.key))
	for i, k := range t.key {
		keys[i] = quote(k)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + quote(t.db) + "." + quote(t.name)
	var args []any
	if after != nil {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ")
		q += " WHERE (" + strings.Join(keys, ", ") + ") > (" + marks + ")"
		for _, k := range after {
			args = append(args, k)
		}
	}
	q += " ORDER BY " + strings.Join(keys, ", ") + fmt.Sprintf(" LIMIT %d", limit)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", name, err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	vals := make([]any, len(cols))
	var out []chunkRow
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", name, err)
		}
		for i, r := range raw {
			if r == nil {
				vals[i] = nil
			} else {
				vals[i] = []byte(r)
			}
		}
		fields, err := t.row(vals)
		if err != nil {
			return nil, sdk.Fatal(err)
		}
		key := make([][]byte, len(t.keyIdx))
		for i, ki := range t.keyIdx {
			key[i] = append([]byte{}, raw[ki]...)
		}
		out = append(out, chunkRow{fields: fields, key: key})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", name, err)
	}
	return out, nil
}

// describeTable reads a table's definition from information_schema, mapped
// to the same fields the binlog's TABLE_MAP gives.
func describeTable(ctx context.Context, db *sql.DB, flavor, schemaName, name string) (*table, error) {
	var jsonCols map[string]bool
	if flavor == "mariadb" {
		var err error
		if jsonCols, err = mariadbJSONColumns(ctx, db, schemaName, name); err != nil {
			return nil, err
		}
	}
	rows, err := db.QueryContext(ctx, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), IS_NULLABLE, COLUMN_KEY "+
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", schemaName, name)
	if err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", schemaName, name, err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var ic infoColumn
		var nullable, key string
		if err := rows.Scan(&ic.name, &ic.dataType, &ic.columnType, &ic.precision, &ic.scale, &nullable, &key); err != nil {
			return nil, err
		}
		ic.dataType, ic.columnType = strings.ToLower(ic.dataType), strings.ToLower(ic.columnType)
		ic.nullable, ic.json = nullable == "YES", jsonCols[ic.name]
		cols = append(cols, columnFromInfo(ic))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	krows, err := db.QueryContext(ctx, "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "+
		"WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", schemaName, name)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s.%s: %w", schemaName, name, err)
	}
	defer krows.Close()
	var key []string
	for krows.Next() {
		var k string
		if err := krows.Scan(&k); err != nil {
			return nil, err
		}
		key = append(key, k)
	}
	if err := krows.Err(); err != nil {
		return nil, err
	}
	return newTable(schemaName, name, cols, key)
}

var jsonCheck = regexp.MustCompile("^json_valid\\(`((?:[^`]|``)+)`\\)$")

// mariadbJSONColumns returns the columns of a MariaDB table declared JSON
// (LONGTEXT with the CHECK json_valid(col) MariaDB adds for them).
func mariadbJSONColumns(ctx context.Context, db *sql.DB, schemaName, name string) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?", schemaName, name)
	if err != nil {
		return nil, fmt.Errorf("JSON columns of %s.%s: %w", schemaName, name, err)
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var clause string
		if err := rows.Scan(&clause); err != nil {
			return nil, err
		}
		if g := jsonCheck.FindStringSubmatch(strings.TrimSpace(clause)); g != nil {
			m[strings.ReplaceAll(g[1], "``", "`")] = true
		}
	}
	return m, rows.Err()
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }
