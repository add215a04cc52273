package jdbc

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// selectSQL builds one poll's query: rows after the stored keyset (strict >
// on the tuple of tracking columns), ordered by it, at most limit rows.
func (s *source) selectSQL(t *table, now time.Time) (string, []any) {
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
	if !t.unlimited {
		fmt.Fprintf(&b, " LIMIT %d", s.cfg.batchRows)
		if len(t.track) == 0 && t.st.Off > 0 {
			fmt.Fprintf(&b, " OFFSET %d", t.st.Off)
		}
	}
	return b.String(), args
}

// fetch runs one poll of t and turns its rows into records, each carrying
// the position just after it.
func (s *source) fetch(ctx context.Context, t *table) ([]sdk.Record, error) {
	now := time.Now()
	q, args := s.selectSQL(t, now)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("poll table %q: %w", t.name, err))
	}
	defer rows.Close()
	fields := t.schema.Fields
	vals := make([]any, len(fields))
	ptrs := make([]any, len(fields))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	trackIdx := make([]int, len(t.track))
	for i, c := range t.track {
		for j := range fields {
			if fields[j].Name == c {
				trackIdx[i] = j
			}
		}
	}
	recs := make([]sdk.Record, 0, min(s.cfg.batchRows, 8192))
	wasDone := t.st.Done
	snapshot := !wasDone || s.cfg.mode == ModeBulk
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("table %q row after %v: %w", t.name, t.st.Key, err)
		}
		row := make(map[string]any, len(fields))
		for i := range fields {
			v, err := normalize(&fields[i], vals[i])
			if err != nil {
				return nil, sdk.Fatal(fmt.Errorf("table %q column %q: %w", t.name, fields[i].Name, err))
			}
			row[fields[i].Name] = v
		}
		if len(t.track) > 0 {
			key := make([]any, len(t.track))
			for i, j := range trackIdx {
				key[i] = row[fields[j].Name]
			}
			t.st.Key = key
		} else {
			t.st.Off++
		}
		rec, err := s.record(t, row, snapshot, now)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("poll table %q: %w", t.name, err))
	}
	if t.unlimited || len(recs) < s.cfg.batchRows {
		s.caughtUp(t, now, recs)
	}
	n := int64(len(recs))
	if wasDone {
		n = 0
	}
	s.setProgress(func(p *sdk.Progress) { p.Done += n; p.Phase = s.phase() })
	return recs, nil
}

// caughtUp marks t as having read everything there is: the first full read
// is done, a bulk pass starts over, and t waits poll.interval.
func (s *source) caughtUp(t *table, now time.Time, recs []sdk.Record) {
	t.due = now.Add(s.cfg.poll)
	t.st.Done = true
	if s.cfg.mode == ModeBulk {
		t.st = tableState{Pass: t.st.Pass + 1, Done: true}
	}
	if len(recs) > 0 {
		recs[len(recs)-1].Position = s.position()
	}
}

func (s *source) record(t *table, row map[string]any, snapshot bool, now time.Time) (sdk.Record, error) {
	rec := sdk.Record{
		Topic: t.topic, Fields: row, Schema: t.schema, Timestamp: now.UTC(),
		Position: s.position(), Op: sdk.OpSnapshot,
	}
	if !snapshot {
		rec.Op = sdk.OpCreate
		if t.tsCol != "" {
			rec.Op = sdk.OpUpdate
		}
	}
	if ts, ok := row[t.tsCol].(time.Time); ok && t.tsCol != "" {
		rec.Timestamp = ts
	}
	if len(t.key) > 0 {
		k, err := s.slab.add(func(b []byte) ([]byte, error) { return encodeKey(b, t.key, row) })
		if err != nil {
			return rec, fmt.Errorf("table %q key: %w", t.name, err)
		}
		rec.Key = k
	}
	return rec, nil
}

// encodeKey renders key columns as a JSON object in key order.
func encodeKey(b []byte, cols []string, row map[string]any) ([]byte, error) {
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, row[c]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends v as JSON: a fast path for the values rows hold
// (decimals as JSON numbers, times as RFC 3339 strings), json.Marshal for
// the rest.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case string:
		return appendJSONString(b, x), nil
	case schema.Decimal:
		return append(b, x...), nil
	case time.Time:
		b = append(b, '"')
		b = x.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	}
	raw, err := json.Marshal(v)
	return append(b, raw...), err
}

// appendJSONString appends s as a JSON string; json.Marshal handles the
// strings that need escaping.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s)
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// position renders every table's progress: {"v":1,"t":{"name":state,...}}.
func (s *source) position() sdk.Position {
	p, _ := s.slab.add(func(b []byte) ([]byte, error) { return s.appendPosition(b), nil })
	return p
}

func (s *source) appendPosition(b []byte) []byte {
	b = append(b, `{"v":1,"t":{`...)
	for i, t := range s.tables {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.name)
		b = append(b, ':')
		b = appendState(b, &t.st)
	}
	return append(b, "}}"...)
}

func appendState(b []byte, st *tableState) []byte {
	b = append(b, '{')
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	if st.Key != nil {
		b = append(b, `"k":[`...)
		for i, v := range st.Key {
			if i > 0 {
				b = append(b, ',')
			}
			if dec, ok := v.(schema.Decimal); ok {
				v = string(dec) // a string, as restoreState expects
			}
			b, _ = appendJSON(b, v)
		}
		b = append(b, ']')
	}
	if st.Off != 0 {
		sep()
		b = append(append(b, `"o":`...), strconv.FormatInt(st.Off, 10)...)
	}
	if st.Pass != 0 {
		sep()
		b = append(append(b, `"p":`...), strconv.FormatInt(st.Pass, 10)...)
	}
	if st.Done {
		sep()
		b = append(b, `"d":true`...)
	}
	return append(b, '}')
}

// slab hands out small byte slices (keys, positions) cut from large blocks,
// one allocation per block instead of two per record.
type slab struct{ buf []byte }

const slabSize = 64 << 10

// add appends what f writes and returns it as its own slice (capacity
// capped, so appending to it never touches a neighbour).
func (sl *slab) add(f func(b []byte) ([]byte, error)) ([]byte, error) {
	if cap(sl.buf)-len(sl.buf) < 512 {
		sl.buf = make([]byte, 0, slabSize)
	}
	start := len(sl.buf)
	out, err := f(sl.buf)
	if err != nil {
		return nil, err
	}
	if cap(out) != cap(sl.buf) || &out[:1][0] != &sl.buf[:1][0] {
		// f outgrew the block: keep its own copy, start a fresh block.
		own := append([]byte(nil), out[start:]...)
		sl.buf = make([]byte, 0, slabSize)
		return own, nil
	}
	sl.buf = out
	return out[start:len(out):len(out)], nil
}
