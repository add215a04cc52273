package jdbc

import (
	"fmt"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
)

// selectSQL builds one query: rows after the stored keyset (strict > on the
// tuple of tracking columns), ordered by it, at most limit rows (0: all).
func (s *source) selectSQL(t *table, now time.Time, limit int) (string, []any) {
	d := s.cfg.dialect
	var where []string
	var args []any
	arg := func(v any) string {
		if dec, ok := v.(schema.Decimal); ok {
			v = string(dec)
		}
		args = append(args, v)
		return d.placeholder(len(args))
	}
	for _, c := range t.track {
		where = append(where, d.Quote(c)+" IS NOT NULL")
	}
	if t.st.Key != nil {
		// (a > ?) OR (a = ? AND b > ?) OR ...: index-friendly on both databases.
		var ors []string
		for i := range t.track {
			var ands []string
			for j := 0; j < i; j++ {
				ands = append(ands, d.Quote(t.track[j])+" = "+arg(t.st.Key[j]))
			}
			ands = append(ands, d.Quote(t.track[i])+" > "+arg(t.st.Key[i]))
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if t.tsCol != "" {
		where = append(where, d.Quote(t.tsCol)+" < "+arg(now.Add(-s.cfg.tsDelay).UTC()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s", t.cols, t.from)
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	if len(t.track) > 0 {
		b.WriteString(" ORDER BY " + strings.Join(d.quoteAll(t.track), ", "))
	}
	if limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", limit)
		if len(t.track) == 0 && t.st.Off > 0 {
			fmt.Fprintf(&b, " OFFSET %d", t.st.Off)
		}
	}
	return b.String(), args
}
