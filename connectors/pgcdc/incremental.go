package pgcdc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/braidhq/braid/connectors/internal/incsnap"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/jackc/pglogrepl"
)

// Incremental snapshots (sdk.IncrementalSnapshotter) read tables again in
// primary-key chunks while the slot streams: DBLog (Netflix, arXiv
// 2010.12597) with the high watermark written into the WAL as a logical
// decoding message, so no signal table is needed. Between two transactions
// the streamer reads one chunk (one statement, no lock), then emits
// pg_logical_emit_message(false, 'braid-watermark', mark). Every change the
// SELECT saw committed before that message, and pgoutput sends
// transactions in commit order, so when the message arrives every such
// change has been streamed; those of the chunk's keys dropped their rows
// from it, and the rest is emitted then. Each record's position holds the
// request taken up, the tables left and the last key published.

// watermarkPrefix is the prefix of the watermark messages.
const watermarkPrefix = "braid-watermark"

// incremental is a source's incremental-snapshot state. pos belongs to the
// goroutine that snapshots (Read) and then to the streamer.
type incremental struct {
	queue    incsnap.Queue
	progress incsnap.Progress

	pos   incPos
	chunk *incChunk
	seq   int // chunks read, for unique watermarks

	afterRead func() // tests: runs between a chunk's SELECT and its watermark
}

// incChunk is a chunk waiting for its watermark message.
type incChunk struct {
	*incsnap.Chunk[chunkRow]
	t    *table
	mark string
	last []string // key of the last row read
	end  bool     // no rows after this chunk
}

// position returns the state for a record's position, nil when there is
// none to keep.
func (inc *incremental) position() *incPos {
	if inc.pos.Req == 0 && len(inc.pos.Tables) == 0 {
		return nil
	}
	p := inc.pos
	p.Tables = slices.Clone(p.Tables)
	return &p
}

// Snapshot implements sdk.IncrementalSnapshotter.
func (s *source) Snapshot(reqs []sdk.SnapshotRequest) error {
	if s.pgVersion < 140000 {
		return fmt.Errorf("incremental snapshots need PostgreSQL 14 or later (logical decoding messages in pgoutput); the server is %d", s.pgVersion)
	}
	return s.inc.queue.AddChecked(reqs, func(t string) string {
		if _, ok := s.tables[t]; !ok {
			return "not captured: tables are schema.table, selected by tables and exclude.tables"
		}
		return ""
	})
}

// incStep takes up new requests and, between transactions, reads the next
// chunk and writes its watermark when none waits.
func (st *streamer) incStep(ctx context.Context) error {
	s := st.s
	inc := &s.inc
	captured := func() ([]string, error) {
		names := make([]string, len(s.order))
		for i, t := range s.order {
			names[i] = t.full
		}
		return names, nil
	}
	if err := inc.queue.TakeUp(&inc.pos.Req, &inc.pos.Tables, captured, func(n string) { s.queueProgress(ctx, n) }, s.log); err != nil {
		return err
	}
	for inc.chunk == nil && len(inc.pos.Tables) > 0 && st.cur == nil {
		name := inc.pos.Tables[0]
		t := s.tables[name]
		if t == nil || len(t.key) == 0 {
			s.log.Warn("incremental snapshot skips a table without a primary key", "table", name)
			s.updateProgress(name, incsnap.Skipped, 0)
			inc.pos.Tables, inc.pos.Key = inc.pos.Tables[1:], nil
			continue
		}
		rows, err := selectChunk(ctx, s.db, t, inc.pos.Key, s.cfg.chunk)
		if err != nil {
			return err
		}
		if inc.afterRead != nil {
			inc.afterRead()
		}
		inc.seq++
		mark := fmt.Sprintf("%s/%d/%d/%d", s.cfg.slot, inc.pos.Req, inc.seq, time.Now().UnixNano())
		if _, err := s.db.Exec(ctx, "SELECT pg_logical_emit_message(false, '"+watermarkPrefix+"', $1::text)", mark); err != nil {
			return sdk.Retryable(fmt.Errorf("incremental snapshot of %s: write the watermark (pg_logical_emit_message): %w", name, err))
		}
		ch := &incChunk{Chunk: incsnap.NewChunk(name, rows, func(r chunkRow) string { return string(keyJSON(t, r.fields)) }),
			t: t, mark: mark, last: inc.pos.Key, end: len(rows) < s.cfg.chunk}
		if len(rows) > 0 {
			ch.last = rows[len(rows)-1].key
		}
		inc.chunk = ch
		s.updateProgress(name, incsnap.Running, 0)
	}
	return nil
}

// incDrop removes from the waiting chunk the rows a streamed change of t
// supersedes.
func (st *streamer) incDrop(t *table, before, after map[string]any) {
	ch := st.s.inc.chunk
	if ch == nil || ch.t.full != t.full {
		return
	}
	for _, f := range []map[string]any{before, after} {
		if f != nil {
			ch.Drop(string(keyJSON(t, f)))
		}
	}
}

// message handles a logical decoding message: the watermark of the waiting
// chunk emits what is left of it.
func (st *streamer) message(ctx context.Context, m *pglogrepl.LogicalDecodingMessage) error {
	inc := &st.s.inc
	ch := inc.chunk
	if m.Prefix != watermarkPrefix || ch == nil || string(m.Content) != ch.mark {
		return nil
	}
	inc.chunk = nil
	at := time.Now().UTC()
	atText := tsText(at)
	for _, r := range ch.Kept() {
		inc.pos.Key = r.key
		st.batch = append(st.batch, sdk.Record{
			Topic: ch.t.topic, Key: keyJSON(ch.t, r.fields), Fields: r.fields, Schema: ch.t.sch, Op: sdk.OpSnapshot,
			Timestamp: at, Position: st.between(), Headers: st.s.baseHeaders(ch.t, m.LSN.String(), atText),
		})
	}
	inc.pos.Key = ch.last
	state := ""
	if ch.end {
		inc.pos.Tables, inc.pos.Key, state = inc.pos.Tables[1:], nil, incsnap.Done
	}
	if n := len(st.batch); n > 0 {
		st.batch[n-1].Position = st.between() // the chunk is done
	}
	st.s.updateProgress(ch.Table, state, int64(ch.Len()))
	return st.flush(ctx)
}

// between is the position between two transactions: after the last one
// handed out.
func (st *streamer) between() sdk.Position {
	return position{LSN: st.lastFinal.String(), N: st.lastN, Inc: st.s.inc.position()}.bytes()
}

// queueProgress lists a table as queued with the planner's row estimate.
func (s *source) queueProgress(ctx context.Context, name string) {
	var est float64
	if t := s.tables[name]; t != nil && s.db != nil {
		_ = s.db.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", t.quoted).Scan(&est)
	}
	s.inc.progress.Queue(name, int64(max(est, 0)))
	s.updateProgress(name, "", 0)
}

// updateProgress records a table's state and rows, and what is left as the
// task's gauges.
func (s *source) updateProgress(name, state string, rows int64) {
	s.inc.progress.Update(name, state, rows)
	s.inc.progress.Gauges(s.env.SetGauge)
}
