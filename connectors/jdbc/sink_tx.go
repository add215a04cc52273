package jdbc

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"

	"github.com/jackc/pgx/v5/stdlib"
)

// txConn is a transaction on a connection the sink holds itself, so that
// PostgreSQL's COPY can run inside it (database/sql's Tx hides the driver
// connection).
type txConn struct {
	conn *sql.Conn
}

func beginTx(ctx context.Context, db *sql.DB) (*txConn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "START TRANSACTION"); err != nil {
		c.Close()
		return nil, err
	}
	return &txConn{conn: c}, nil
}

func (t *txConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(ctx, q, args...)
}

func (t *txConn) Commit(ctx context.Context) error {
	_, err := t.conn.ExecContext(ctx, "COMMIT")
	t.conn.Close()
	return err
}

func (t *txConn) Rollback() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = t.conn.ExecContext(ctx, "ROLLBACK")
	t.conn.Close()
}

// copyRows loads rows into the table with COPY FROM STDIN in text format:
// PostgreSQL's bulk path, several times faster than INSERT ... SELECT.
func (s *sink) copyRows(ctx context.Context, tx *txConn, m *tableMeta, rows []row) error {
	r0 := &rows[0]
	types := make([]string, len(r0.cols))
	for i, c := range r0.cols {
		types[i] = m.types[c]
	}
	buf := make([]byte, 0, len(rows)*64)
	for _, r := range rows {
		for i, v := range r.vals {
			if i > 0 {
				buf = append(buf, '\t')
			}
			var err error
			if buf, err = appendCopyValue(buf, v, &r.fields[i], types[i]); err != nil {
				return fmt.Errorf("%w: column %q: %v", errEncode, r0.cols[i], err)
			}
		}
		buf = append(buf, '\n')
	}
	q := fmt.Sprintf("COPY %s (%s) FROM STDIN", s.cfg.dialect.Quote(m.name), strings.Join(s.cfg.dialect.quoteAll(r0.cols), ", "))
	return tx.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("COPY needs a pgx connection, not %T", dc)
		}
		_, err := c.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(buf), q)
		return err
	})
}

// appendCopyValue appends v in COPY's text format: \N for NULL, numbers
// and times as is, text with backslash, tab and newline escaped.
func appendCopyValue(buf []byte, v any, f *schema.Field, colType string) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, `\N`...), nil
	case int64:
		if f.Type != schema.JSON {
			return strconv.AppendInt(buf, x, 10), nil
		}
	case time.Time:
		if f.Type != schema.JSON {
			return x.UTC().AppendFormat(buf, pgTimeLayout), nil
		}
	case string:
		if colType != "bytea" && f.Type != schema.JSON {
			return copyEscape(buf, x), nil
		}
	}
	text, err := encodePG(v, f, colType)
	if err != nil {
		return buf, err
	}
	return copyEscape(buf, *text), nil
}

// copyEscape appends s escaped for COPY's text format.
func copyEscape(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}
