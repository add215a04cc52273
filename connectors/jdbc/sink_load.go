package jdbc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/go-sql-driver/mysql"
)

// errLoadIncomplete says LOAD DATA skipped or altered rows: with LOCAL the
// server turns duplicate keys and bad values into warnings, so the sink
// checks the counts and rolls the chunk back to upsert it with a statement.
var errLoadIncomplete = errors.New("LOAD DATA skipped or changed rows")

var loadSeq atomic.Int64

// loadRows loads rows with LOAD DATA LOCAL INFILE from an in-memory reader.
func (s *sink) loadRows(ctx context.Context, tx *txConn, m *tableMeta, rows []row) error {
	r0 := &rows[0]
	stream := encodeRows(m, rows, appendLoadValue)
	name := fmt.Sprintf("braid-jdbc-%d", loadSeq.Add(1))
	mysql.RegisterReaderHandler(name, func() io.Reader { return stream })
	defer mysql.DeregisterReaderHandler(name)
	q := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE %s CHARACTER SET binary (%s)",
		name, s.cfg.dialect.Quote(m.name), strings.Join(s.cfg.dialect.quoteAll(r0.cols), ", "))
	res, err := tx.ExecContext(ctx, q)
	if err = stream.finish(err); err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	var warnings int64
	if err := tx.conn.QueryRowContext(ctx, "SELECT @@warning_count").Scan(&warnings); err != nil {
		return err
	}
	if n != int64(len(rows)) || warnings > 0 {
		return fmt.Errorf("%w (%d of %d rows, %d warnings)", errLoadIncomplete, n, len(rows), warnings)
	}
	return nil
}

// appendLoadValue appends v in LOAD DATA's default format: \N for NULL,
// backslash, tab, newline and NUL escaped.
func appendLoadValue(buf []byte, v any, f *schema.Field, colType string) ([]byte, error) {
	if f.Type == schema.JSON || f.Type == schema.Array || f.Type == schema.Map || f.Type == schema.Struct {
		if v == nil {
			return append(buf, `\N`...), nil
		}
		raw, ok := v.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(v); err != nil {
				return buf, err
			}
		}
		return loadEscape(buf, raw), nil
	}
	switch x := textTime(v, f).(type) {
	case nil:
		return append(buf, `\N`...), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case float64:
		return strconv.AppendFloat(buf, x, 'g', -1, 64), nil
	case bool:
		if x {
			return append(buf, '1'), nil
		}
		return append(buf, '0'), nil
	case schema.Decimal:
		return append(buf, x...), nil
	case json.Number:
		return append(buf, x...), nil
	case string:
		return loadEscape(buf, []byte(x)), nil
	case []byte:
		return loadEscape(buf, x), nil
	case time.Time:
		if strings.HasPrefix(colType, "date") && !strings.HasPrefix(colType, "datetime") {
			return x.UTC().AppendFormat(buf, "2006-01-02"), nil
		}
		return x.UTC().AppendFormat(buf, "2006-01-02 15:04:05.999999"), nil
	}
	b, err := bindMySQL(v, f)
	if err != nil {
		return buf, err
	}
	return loadEscape(buf, []byte(fmt.Sprint(b))), nil
}

func loadEscape(b, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\t':
			esc = `\t`
		case 0:
			esc = `\0`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}
