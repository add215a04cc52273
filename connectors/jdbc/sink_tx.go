package jdbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
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

// bulkRows loads rows with the database's bulk path.
func (s *sink) bulkRows(ctx context.Context, tx *txConn, m *tableMeta, rows []row) error {
	if s.cfg.dialect == MySQL {
		return s.loadRows(ctx, tx, m, rows)
	}
	return s.copyRows(ctx, tx, m, rows)
}

// copyRows loads rows into the table with COPY FROM STDIN in text format:
// PostgreSQL's bulk path, several times faster than INSERT ... SELECT.
func (s *sink) copyRows(ctx context.Context, tx *txConn, m *tableMeta, rows []row) error {
	r0 := &rows[0]
	stream := encodeRows(m, rows, appendCopyValue)
	q := fmt.Sprintf("COPY %s (%s) FROM STDIN", s.cfg.dialect.Quote(m.name), strings.Join(s.cfg.dialect.quoteAll(r0.cols), ", "))
	err := tx.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("COPY needs a pgx connection, not %T", dc)
		}
		_, err := c.Conn().PgConn().CopyFrom(ctx, stream, q)
		return err
	})
	return stream.finish(err)
}

// rowStream encodes rows in a goroutine while the database reads them, so
// encoding overlaps the server's work.
type rowStream struct {
	*io.PipeReader
	done chan error
}

// encodeRows starts encoding rows into a stream of tab-separated lines,
// one value at a time with appendValue.
func encodeRows(m *tableMeta, rows []row, appendValue func(buf []byte, v any, f *schema.Field, colType string) ([]byte, error)) *rowStream {
	cols := rows[0].cols
	types := make([]string, len(cols))
	for i, c := range cols {
		types[i] = m.types[c]
	}
	pr, pw := io.Pipe()
	st := &rowStream{PipeReader: pr, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 0, 80<<10)
		var err error
		for i := range rows {
			if buf, err = appendLine(buf, &rows[i], types, appendValue); err != nil {
				break
			}
			if len(buf) >= 64<<10 {
				if _, err = pw.Write(buf); err != nil {
					break
				}
				buf = buf[:0]
			}
		}
		if err == nil && len(buf) > 0 {
			_, err = pw.Write(buf)
		}
		pw.CloseWithError(err)
		st.done <- err
	}()
	return st
}

func appendLine(buf []byte, r *row, types []string, appendValue func([]byte, any, *schema.Field, string) ([]byte, error)) ([]byte, error) {
	for i, v := range r.vals {
		if i > 0 {
			buf = append(buf, '\t')
		}
		var err error
		if buf, err = appendValue(buf, v, &r.fields[i], types[i]); err != nil {
			return buf, fmt.Errorf("%w: column %q: %v", errEncode, r.cols[i], err)
		}
	}
	return append(buf, '\n'), nil
}

// finish stops the encoder and returns its error, which explains a failed
// load better than the load's own, or else the load's error.
func (st *rowStream) finish(loadErr error) error {
	st.CloseWithError(errors.New("load ended"))
	encErr := <-st.done
	if encErr != nil && errors.Is(encErr, errEncode) {
		return encErr
	}
	return loadErr
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
