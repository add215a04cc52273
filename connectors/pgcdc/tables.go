package pgcdc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// table is one captured table.
type table struct {
	schemaName string
	name       string
	full       string // schema.table, as in headers and positions
	quoted     string // "schema"."table"
	cols       []column
	key        []int // indexes of the primary-key columns
	identity   byte  // REPLICA IDENTITY: d(efault), f(ull), i(ndex), n(othing)
	sch        *schema.Schema
	hdr        string // sch as JSON, for the braid.schema header
	topic      string
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// discover lists the tables the config selects, sorted by name.
func discover(ctx context.Context, db *pgxpool.Pool, c config) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []string
	for _, n := range all {
		if c.matches(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// describe reads a table's columns, primary key and replica identity.
func describe(ctx context.Context, db *pgxpool.Pool, full, topicTmpl string) (*table, error) {
	sn, tn, _ := strings.Cut(full, ".")
	t := &table{schemaName: sn, name: tn, full: full, quoted: quoteIdent(sn) + "." + quoteIdent(tn)}
	var ident string
	err := db.QueryRow(ctx, `SELECT c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, sn, tn).Scan(&ident)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", full, err)
	}
	t.identity = ident[0]
	rows, err := db.Query(ctx, `SELECT a.attname, a.atttypid::int8, a.atttypmod, NOT a.attnotnull, format_type(a.atttypid, a.atttypmod),
			COALESCE(array_position(i.indkey::int2[], a.attnum) + 1, 0)
		FROM pg_attribute a
		LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, t.quoted)
	if err != nil {
		return nil, fmt.Errorf("table %s columns: %w", full, err)
	}
	defer rows.Close()
	type keyCol struct{ pos, idx int }
	var keys []keyCol
	for rows.Next() {
		var name string
		var oid int64
		var typmod int32
		var nullable bool
		var keyPos int32
		var typ string
		if err := rows.Scan(&name, &oid, &typmod, &nullable, &typ, &keyPos); err != nil {
			return nil, err
		}
		if keyPos > 0 {
			keys = append(keys, keyCol{int(keyPos), len(t.cols)})
		}
		t.cols = append(t.cols, column{name: name, oid: uint32(oid), typmod: typmod, typ: typ, field: fieldFor(name, uint32(oid), typmod, nullable)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(keys, func(a, b keyCol) int { return a.pos - b.pos })
	for _, k := range keys {
		t.key = append(t.key, k.idx)
	}
	t.buildSchema()
	t.topic = strings.NewReplacer("${schema}", sn, "${table}", tn).Replace(topicTmpl)
	return t, nil
}

func (t *table) buildSchema() {
	s := &schema.Schema{Name: t.full}
	for _, c := range t.cols {
		s.Fields = append(s.Fields, c.field)
	}
	for _, k := range t.key {
		s.Key = append(s.Key, t.cols[k].name)
	}
	t.sch = s
	b, _ := json.Marshal(s)
	t.hdr = string(b)
}

// identityNote says what a table's replica identity means for its records,
// for the log at start.
func (t *table) identityNote() string {
	switch {
	case t.identity == 'f':
		return "FULL: updates and deletes carry the whole old row in Before"
	case t.identity == 'n':
		return "NOTHING: updates and deletes cannot be published (PostgreSQL refuses them while the table is in a publication); set REPLICA IDENTITY"
	case t.identity == 'd' && len(t.key) == 0:
		return "DEFAULT without a primary key: only inserts can be published; add a primary key or set REPLICA IDENTITY FULL"
	case t.identity == 'i':
		return "USING INDEX: updates and deletes carry the index columns in Before"
	}
	return "DEFAULT: updates and deletes carry the primary key"
}

// ensurePublication creates the publication, or adds the tables it lacks,
// when autocreate is on; off, it only checks that the publication exists.
func ensurePublication(ctx context.Context, db *pgxpool.Pool, c config, tables []*table) error {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, c.publication).Scan(&exists); err != nil {
		return fmt.Errorf("look up publication %s: %w", c.publication, err)
	}
	if !c.autocreate {
		if !exists {
			return sdk.Fatal(fmt.Errorf("publication %s does not exist: create it (CREATE PUBLICATION %s FOR TABLE ...) or set publication.autocreate: true", c.publication, c.publication))
		}
		return nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.quoted
	}
	if !exists {
		q := "CREATE PUBLICATION " + quoteIdent(c.publication)
		if len(names) > 0 {
			q += " FOR TABLE " + strings.Join(names, ", ")
		}
		if _, err := db.Exec(ctx, q); err != nil {
			return fmt.Errorf("create publication %s (the role needs CREATE on the database and must own the tables): %w", c.publication, err)
		}
		return nil
	}
	rows, err := db.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1`, c.publication)
	if err != nil {
		return err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var missing []string
	for i, t := range tables {
		if !slices.Contains(have, t.full) {
			missing = append(missing, names[i])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := db.Exec(ctx, "ALTER PUBLICATION "+quoteIdent(c.publication)+" ADD TABLE "+strings.Join(missing, ", ")); err != nil {
		return fmt.Errorf("add tables to publication %s (the role must own the publication and the tables): %w", c.publication, err)
	}
	return nil
}
