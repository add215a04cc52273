package jdbc

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// cursorBatches is how many batches (of batch.max.rows) one query streams.
// One query per batch would leave the database idle while the source builds
// records and pay a query's start-up for every batch; an open query streams
// its rows into the socket while the records of the previous ones are built.
// The bound keeps each query (and the snapshot it holds) short.
const cursorBatches = 50

// cursor is an open query streaming one table's rows across Reads.
type cursor struct {
	t       *table
	rows    *sql.Rows
	cancel  context.CancelFunc
	now     time.Time // when the query started: the read time of its rows
	limit   int       // the query's LIMIT; 0 for none
	n       int       // rows read from it
	resumed bool      // it was opened by an earlier Read
	cols    []colScan
	dest    []any
	track   []int // indexes of the tracking columns in cols
}

// colScan scans one column straight into the Go value its schema type
// promises, without database/sql's intermediate copy.
type colScan struct {
	f   *schema.Field
	v   any
	err error
}

func (c *colScan) Scan(src any) error {
	c.v, c.err = normalize(c.f, src)
	return c.err
}

// openCursor starts the query of t's next rows after its stored state.
func (s *source) openCursor(t *table) (*cursor, error) {
	limit := 0
	if !t.unlimited {
		limit = s.cfg.batchRows * cursorBatches
	}
	now := time.Now()
	q, args := s.selectSQL(t, now, limit)
	ctx, cancel := context.WithCancel(s.base)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		cancel()
		return nil, classify(fmt.Errorf("poll table %q: %w", t.name, err))
	}
	fields := t.schema.Fields
	c := &cursor{t: t, rows: rows, cancel: cancel, now: now, limit: limit,
		cols: make([]colScan, len(fields)), dest: make([]any, len(fields)), track: make([]int, len(t.track))}
	for i := range fields {
		c.cols[i].f = &fields[i]
		c.dest[i] = &c.cols[i]
	}
	for i, name := range t.track {
		for j := range fields {
			if fields[j].Name == name {
				c.track[i] = j
			}
		}
	}
	return c, nil
}

func (s *source) closeCursor() {
	if s.open == nil {
		return
	}
	_ = s.open.rows.Close()
	s.open.cancel()
	s.open = nil
}

// fetch reads t's next batch from its open query (opening one when needed)
// and turns the rows into records, each carrying the position just after it.
// On an error t's state is as before the call, so nothing is skipped.
func (s *source) fetch(ctx context.Context, t *table) ([]sdk.Record, error) {
	saved := t.st
	recs, err := s.fetchRows(ctx, t)
	if err != nil && s.open != nil && s.open.resumed && len(recs) == 0 && ctx.Err() == nil {
		// A query left open between Reads may have been ended by the server
		// (net_write_timeout, a restart): ask again from the same state.
		s.closeCursor()
		t.st = saved
		recs, err = s.fetchRows(ctx, t)
	}
	if err != nil {
		s.closeCursor()
		t.st = saved
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	n := int64(len(recs))
	if saved.Done {
		n = 0
	}
	s.setProgress(func(p *sdk.Progress) { p.Done += n; p.Phase = s.phase() })
	return recs, nil
}

func (s *source) fetchRows(ctx context.Context, t *table) ([]sdk.Record, error) {
	if s.open != nil && s.open.t != t {
		s.closeCursor()
	}
	if s.open == nil {
		c, err := s.openCursor(t)
		if err != nil {
			return nil, err
		}
		s.open = c
	} else {
		s.open.resumed = true
	}
	c := s.open
	// The query outlives this Read; a cancelled Read ends it.
	stop := context.AfterFunc(ctx, c.cancel)
	recs, more, err := s.readBatch(c)
	if !stop() {
		more = false // cancelled: the query is gone
	}
	if err != nil {
		return recs, err
	}
	if !more {
		s.closeCursor()
		if t.unlimited || c.n < c.limit {
			s.caughtUp(t, c.now, recs)
		}
	}
	return recs, nil
}

// readBatch reads up to batch.max.rows rows (all of them for a table read in
// whole windows); more is false when the query has no rows left.
func (s *source) readBatch(c *cursor) (recs []sdk.Record, more bool, err error) {
	t := c.t
	max := s.cfg.batchRows
	if t.unlimited {
		max = int(^uint(0) >> 1)
	}
	fields := t.schema.Fields
	snapshot := !t.st.Done || s.cfg.mode == ModeBulk
	op := sdk.OpSnapshot
	if !snapshot {
		op = sdk.OpCreate
		if t.tsCol != "" {
			op = sdk.OpUpdate
		}
	}
	tsIdx := -1
	if t.tsCol != "" && len(c.track) > 0 {
		tsIdx = c.track[0]
	}
	var pf posFormat
	if len(c.track) > 0 {
		pf = s.newPosFormat(t)
	}
	size := min(max, s.cfg.batchRows, 8192)
	recs = make([]sdk.Record, 0, size)
	var hdrs []sdk.Header
	readAt := c.now.UTC()
	more = true
	for len(recs) < max {
		if c.limit > 0 && c.n >= c.limit {
			more = false
			break
		}
		if !c.rows.Next() {
			if err := c.rows.Err(); err != nil {
				return nil, false, classify(fmt.Errorf("poll table %q: %w", t.name, err))
			}
			more = false
			break
		}
		if err := c.rows.Scan(c.dest...); err != nil {
			for i := range c.cols {
				if c.cols[i].err != nil {
					return nil, false, sdk.Fatal(fmt.Errorf("table %q column %q: %w", t.name, fields[i].Name, c.cols[i].err))
				}
			}
			return nil, false, fmt.Errorf("table %q row after %v: %w", t.name, t.st.Key, err)
		}
		c.n++
		row := make(map[string]any, len(fields))
		for i := range fields {
			row[fields[i].Name] = c.cols[i].v
		}
		rec := sdk.Record{Topic: t.topic, Fields: row, Schema: t.schema, Timestamp: readAt, Op: op}
		if tsIdx >= 0 {
			if ts, ok := c.cols[tsIdx].v.(time.Time); ok {
				rec.Timestamp = ts
			}
		}
		if len(c.track) > 0 {
			rec.Position, _ = s.slab.add(func(b []byte) ([]byte, error) {
				b = append(b, pf.prefix...)
				for i, j := range c.track {
					if i > 0 {
						b = append(b, ',')
					}
					b = appendTrack(b, c.cols[j].v)
				}
				return append(b, pf.suffix...), nil
			})
		} else {
			t.st.Off++
			rec.Position = s.position()
		}
		if len(t.key) > 0 {
			k, err := s.slab.add(func(b []byte) ([]byte, error) { return encodeKey(b, t.key, row) })
			if err != nil {
				return nil, false, fmt.Errorf("table %q key: %w", t.name, err)
			}
			rec.Key = k
		}
		if t.hdr != "" {
			if len(hdrs) == 0 {
				hdrs = make([]sdk.Header, size)
			}
			rec.Headers, hdrs = hdrs[:1:1], hdrs[1:]
			rec.Headers[0] = sdk.Header{Key: HeaderSchema, Value: t.hdr}
		}
		recs = append(recs, rec)
	}
	if n := len(recs); n > 0 && len(c.track) > 0 {
		key := make([]any, len(c.track))
		for i, j := range c.track {
			key[i] = recs[n-1].Fields[fields[j].Name]
		}
		t.st.Key = key
	}
	return recs, more, nil
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
