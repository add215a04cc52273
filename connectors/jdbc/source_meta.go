package jdbc

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"

	"github.com/braidhq/braid/schema"
)

// listTables resolves table.pattern against the information schema.
func listTables(ctx context.Context, db *sql.DB, d Dialect, pattern string) ([]string, error) {
	q := "SELECT table_name FROM information_schema.tables WHERE table_schema = " + d.currentSchema() +
		" AND table_type = 'BASE TABLE' ORDER BY table_name"
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, classify(fmt.Errorf("list tables: %w", err))
	}
	defer rows.Close()
	var re *regexp.Regexp
	if strings.HasPrefix(pattern, "^") {
		if re, err = regexp.Compile(pattern); err != nil {
			return nil, fmt.Errorf("table.pattern: %w", err)
		}
	} else {
		re = likeToRegexp(pattern)
	}
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if re.MatchString(name) {
			out = append(out, name)
		}
	}
	return out, rows.Err()
}

// likeToRegexp translates an SQL LIKE pattern (% and _, backslash escapes).
func likeToRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		case c == '%':
			b.WriteString(".*")
		case c == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// describe returns the schema of a relation (a quoted table or a
// parenthesised query) from its result column types.
func describe(ctx context.Context, db *sql.DB, from, name string) (*schema.Schema, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+from+" WHERE 1=0")
	if err != nil {
		return nil, classify(fmt.Errorf("describe %s: %w", name, err))
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", name, err)
	}
	s := &schema.Schema{Name: name}
	for _, ct := range cts {
		s.Fields = append(s.Fields, fieldFor(ct))
	}
	return s, rows.Err()
}

// tableNullable fills in nullability, which pgx's column types do not
// report, and the length of CHAR/VARCHAR columns, which go-sql-driver/mysql's
// do not, from the information schema.
func tableNullable(ctx context.Context, db *sql.DB, d Dialect, table string, s *schema.Schema) error {
	q := fmt.Sprintf("SELECT column_name, is_nullable, data_type, COALESCE(character_maximum_length, 0) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
		d.currentSchema(), d.placeholder(1))
	rows, err := db.QueryContext(ctx, q, table)
	if err != nil {
		return classify(fmt.Errorf("columns of %q: %w", table, err))
	}
	defer rows.Close()
	for rows.Next() {
		var col, nullable, typ string
		var length int64
		if err := rows.Scan(&col, &nullable, &typ, &length); err != nil {
			return err
		}
		if f := s.Field(col); f != nil {
			f.Optional = nullable == "YES"
			if f.Type == schema.String && f.Length == 0 && strings.Contains(strings.ToLower(typ), "char") && length > 0 && length < 1<<31-1 {
				f.Length = int(length)
			}
		}
	}
	return rows.Err()
}

// primaryKey returns a table's primary-key columns in key order.
func primaryKey(ctx context.Context, db *sql.DB, d Dialect, table string) ([]string, error) {
	var q string
	if d == MySQL {
		q = `SELECT column_name FROM information_schema.key_column_usage
WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY' ORDER BY ordinal_position`
	} else {
		q = `SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)`
		table = d.Quote(table)
	}
	rows, err := db.QueryContext(ctx, q, table)
	if err != nil {
		return nil, classify(fmt.Errorf("primary key of %s: %w", table, err))
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// estimateRows returns the planner's row estimate (0 when unknown).
func estimateRows(ctx context.Context, db *sql.DB, d Dialect, table string) int64 {
	var q string
	arg := table
	if d == MySQL {
		q = "SELECT COALESCE(table_rows, 0) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	} else {
		q = "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($1)"
		arg = d.Quote(table)
	}
	var n int64
	if err := db.QueryRowContext(ctx, q, arg).Scan(&n); err != nil {
		return 0
	}
	return n
}
