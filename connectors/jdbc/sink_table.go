package jdbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// tableMeta is what the sink knows of a target table.
type tableMeta struct {
	name  string
	types map[string]string // column → SQL type as the catalog spells it
	pk    []string
	// copySkip counts chunks that skip the COPY attempt.
	copySkip int
}

func (m *tableMeta) has(col string) bool { _, ok := m.types[col]; return ok }

// loadTable reads a table's columns; it returns nil when the table does not
// exist.
func loadTable(ctx context.Context, db *sql.DB, d Dialect, name string) (*tableMeta, error) {
	var q string
	arg := name
	if d == MySQL {
		q = "SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?"
	} else {
		q = `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`
		arg = d.Quote(name)
	}
	rows, err := db.QueryContext(ctx, q, arg)
	if err != nil {
		return nil, classify(fmt.Errorf("columns of table %q: %w", name, err))
	}
	defer rows.Close()
	m := &tableMeta{name: name, types: map[string]string{}}
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			return nil, err
		}
		m.types[c] = t
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if len(m.types) == 0 {
		return nil, nil
	}
	if m.pk, err = primaryKey(ctx, db, d, name); err != nil {
		return nil, err
	}
	return m, nil
}

// errNoRowToDelete marks a delete for a table auto.create has not made yet.
var errNoRowToDelete = errors.New("no table yet, so no row to delete")

// ensureTable makes sure r's table exists with every column r writes,
// creating or evolving it when allowed. A record-level problem comes back as
// recErr, a table-level one as err.
func (s *sink) ensureTable(ctx context.Context, r *row) (m *tableMeta, recErr, err error) {
	m = s.tables[r.table]
	if m == nil {
		if m, err = loadTable(ctx, s.db, s.cfg.dialect, r.table); err != nil {
			return nil, nil, err
		}
		if m == nil {
			if !s.cfg.autoCreate {
				return nil, nil, sdk.Fatal(fmt.Errorf("table %q does not exist and auto.create is off", r.table))
			}
			if r.del {
				// A delete before the table's first row (a CDC source
				// that never snapshotted): the row is not there to delete.
				return nil, errNoRowToDelete, nil
			}
			if err := s.createTable(ctx, r); err != nil {
				return nil, nil, err
			}
			if m, err = loadTable(ctx, s.db, s.cfg.dialect, r.table); err != nil || m == nil {
				return nil, nil, fmt.Errorf("table %q not visible after CREATE TABLE: %v", r.table, err)
			}
		}
		s.tables[r.table] = m
	}
	var missing []schema.Field
	for i, c := range r.cols {
		if !m.has(c) {
			missing = append(missing, r.fields[i])
		}
	}
	if len(missing) == 0 {
		return m, nil, nil
	}
	if !s.cfg.autoEvolve || r.del {
		return m, fmt.Errorf("table %q has no column %q and auto.evolve is off", r.table, missing[0].Name), nil
	}
	if err := s.addColumns(ctx, r.table, missing); err != nil {
		return nil, nil, err
	}
	if m, err = loadTable(ctx, s.db, s.cfg.dialect, r.table); err != nil {
		return nil, nil, err
	}
	s.tables[r.table] = m
	return m, nil, nil
}

func (s *sink) createTable(ctx context.Context, r *row) error {
	d := s.cfg.dialect
	isKey := map[string]bool{}
	for _, k := range r.pk {
		isKey[k] = true
	}
	var defs []string
	for _, f := range r.fields {
		def := d.Quote(f.Name) + " " + d.sqlType(f, isKey[f.Name])
		if isKey[f.Name] || !f.Optional {
			def += " NOT NULL"
		}
		defs = append(defs, def)
	}
	if len(r.pk) > 0 {
		defs = append(defs, "PRIMARY KEY ("+strings.Join(d.quoteAll(r.pk), ", ")+")")
	}
	q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", d.Quote(r.table), strings.Join(defs, ", "))
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return classify(fmt.Errorf("create table %q: %w", r.table, err))
	}
	s.log.Info("created table", "table", r.table, "columns", len(defs))
	return nil
}

func (s *sink) addColumns(ctx context.Context, table string, fields []schema.Field) error {
	d := s.cfg.dialect
	for _, f := range fields {
		q := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s NULL", d.Quote(table), d.Quote(f.Name), d.sqlType(f, false))
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			// Another task may have added it first.
			if m, lerr := loadTable(ctx, s.db, d, table); lerr == nil && m != nil && m.has(f.Name) {
				continue
			}
			return classify(fmt.Errorf("add column %q to table %q: %w", f.Name, table, err))
		}
		s.log.Info("added column", "table", table, "column", f.Name, "type", f.Type)
	}
	return nil
}
