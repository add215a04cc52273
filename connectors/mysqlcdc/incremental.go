package mysqlcdc

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/internal/incsnap"
	"github.com/braidhq/braid/connectors/sdk"
)

// Incremental snapshots (sdk.IncrementalSnapshotter) read tables again in
// primary-key chunks while the binlog streams, with DBLog's watermarks
// (Netflix, arXiv 2010.12597) taken as binlog positions instead of rows
// written to a signal table, so the source needs no write access:
//
//  1. Between two transactions, at stream position S, read a chunk (no
//     lock), then read the binlog end H (SHOW MASTER STATUS). Every change
//     the SELECT saw committed before H: the binlog is written before the
//     engine commits.
//  2. Stream on. A row change of the table between S and H whose key is in
//     the chunk drops that row from the chunk: the stream carries a state at
//     least as new, and its later changes follow.
//  3. At the first transaction boundary at or after H, emit what is left of
//     the chunk, then go on streaming.
//
// A chunk's rows are thus never older than a change the stream already
// emitted, and an upserting sink ends equal to the origin. Each record's
// position holds the request taken up, the tables left and the last key
// published, so a restart continues with the next chunk.

// incremental is a source's incremental-snapshot state.
type incremental struct {
	queue    incsnap.Queue
	progress incsnap.Progress

	// The rest belongs to the goroutine that calls Read.
	pos   incPos
	cur   *table // the definition of pos.Tables[0]
	chunk *incChunk

	afterRead func() // tests: runs between a chunk's SELECT and its high watermark
}

// incChunk is a chunk read and waiting for the stream to reach high.
type incChunk struct {
	*incsnap.Chunk[chunkRow]
	t        *table
	highFile string
	highPos  uint32
	last     [][]byte // key of the last row read: the next chunk starts after it
	end      bool     // no rows after this chunk
}

// Snapshot implements sdk.IncrementalSnapshotter: it queues the requests;
// Read takes up those above the position's last one.
func (s *source) Snapshot(reqs []sdk.SnapshotRequest) error {
	return s.inc.queue.AddChecked(reqs, func(t string) string {
		db, name, ok := strings.Cut(t, ".")
		switch {
		case !ok:
			return "not db.table"
		case !s.cfg.captures(db, name):
			return "not selected by tables and exclude.tables"
		}
		return ""
	})
}

// takeRequests moves queued requests newer than the position's into the
// tables to read.
func (s *source) takeRequests(ctx context.Context) error {
	return s.inc.queue.TakeUp(&s.inc.pos.Req, &s.inc.pos.Tables, func() ([]string, error) { return s.capturedTables(ctx) },
		func(n string) { s.queueProgress(ctx, n) }, s.log)
}

// encode is p's sdk.Position with the incremental snapshot's state.
func (st *stream) encode(p position) sdk.Position {
	inc := st.src.inc.pos
	if inc.Req != 0 || len(inc.Tables) > 0 {
		inc.Tables = slices.Clone(inc.Tables)
		p.Inc = &inc
	}
	return p.encode()
}

// between reports whether the stream is between two transactions.
func (st *stream) between() bool { return st.txGTID == "" && st.rows == 0 }

// incStep takes up new requests and, between transactions, reads the next
// chunk when none waits.
func (st *stream) incStep(ctx context.Context) error {
	s := st.src
	if err := s.takeRequests(ctx); err != nil {
		return err
	}
	inc := &s.inc
	for inc.chunk == nil && len(inc.pos.Tables) > 0 && st.between() {
		name := inc.pos.Tables[0]
		db, tbl, _ := strings.Cut(name, ".")
		if inc.cur == nil || inc.cur.db != db || inc.cur.name != tbl {
			t, err := describeTable(ctx, s.db, s.flavor, db, tbl)
			if err != nil || len(t.key) == 0 {
				why := "it has no primary key"
				if err != nil {
					why = err.Error()
				}
				s.log.Warn("incremental snapshot skips a table", "table", name, "why", why)
				s.updateProgress(name, incsnap.Skipped, 0)
				inc.pos.Tables, inc.pos.Key, inc.cur = inc.pos.Tables[1:], nil, nil
				continue
			}
			inc.cur = t
		}
		rows, err := readChunk(ctx, s.db, inc.cur, inc.pos.Key, s.cfg.chunk)
		if err != nil {
			return err
		}
		if inc.afterRead != nil {
			inc.afterRead()
		}
		high, err := s.binlogEnd(ctx)
		if err != nil {
			return err
		}
		t := inc.cur
		ch := &incChunk{Chunk: incsnap.NewChunk(name, rows, func(r chunkRow) string { k, _ := t.recordKey(r.fields); return string(k) }),
			t: t, highFile: high.File, highPos: high.Pos, last: inc.pos.Key, end: len(rows) < s.cfg.chunk}
		if len(rows) > 0 {
			ch.last = rows[len(rows)-1].key
		}
		inc.chunk = ch
		s.updateProgress(name, incsnap.Running, 0)
	}
	return nil
}

// binlogEnd is where the binlog ends now.
func (s *source) binlogEnd(ctx context.Context) (position, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return position{}, fmt.Errorf("read binlog position: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var p position
	if rows.Next() {
		dest := make([]any, len(cols))
		dest[0], dest[1] = &p.File, &p.Pos
		for i := 2; i < len(dest); i++ {
			dest[i] = new([]byte)
		}
		if err := rows.Scan(dest...); err != nil {
			return p, err
		}
	}
	if p.File == "" {
		return p, errors.New("SHOW MASTER STATUS is empty")
	}
	return p, rows.Err()
}

// incDrop removes from the waiting chunk the rows a streamed change of t
// supersedes.
func (st *stream) incDrop(t *table, before, after map[string]any) {
	ch := st.src.inc.chunk
	if ch == nil || ch.t.db != t.db || ch.t.name != t.name {
		return
	}
	for _, f := range []map[string]any{before, after} {
		if f == nil {
			continue
		}
		if k, err := t.recordKey(f); err == nil {
			ch.Drop(string(k))
		}
	}
}

// reached reports whether the stream has read the binlog up to file:pos.
func (st *stream) reached(file string, pos uint32) bool {
	if st.seenFile != file {
		return binlogIndex(st.seenFile) > binlogIndex(file)
	}
	return st.seenPos >= pos
}

// binlogIndex is the number a binlog file name ends with.
func binlogIndex(name string) int64 {
	_, ext, _ := strings.Cut(path.Ext(name), ".")
	n, _ := strconv.ParseInt(ext, 10, 64)
	return n
}

// incEmit appends the waiting chunk's rows once the stream reached its
// high watermark between two transactions.
func (st *stream) incEmit(ctx context.Context, out []sdk.Record) ([]sdk.Record, error) {
	s := st.src
	inc := &s.inc
	ch := inc.chunk
	if ch == nil || !st.between() || !st.reached(ch.highFile, ch.highPos) {
		return out, nil
	}
	inc.chunk = nil
	ts := time.Now().UTC()
	at := fmt.Sprintf("%s:%d", st.seenFile, st.seenPos)
	commit := st.commit // with the schema history; Skip is 0 between transactions
	first := len(out)
	for _, r := range ch.Kept() {
		inc.pos.Key = r.key
		rec, err := ch.t.record(sdk.OpSnapshot, nil, r.fields, st.encode(commit), ts, at, "")
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	inc.pos.Key = ch.last
	if ch.end {
		inc.pos.Tables, inc.pos.Key, inc.cur = inc.pos.Tables[1:], nil, nil
	}
	if len(out) > first {
		out[len(out)-1].Position = st.encode(commit) // the chunk is done
	}
	state := ""
	if ch.end {
		state = incsnap.Done
	}
	s.updateProgress(ch.Table, state, int64(ch.Len()))
	return out, nil
}

// queueProgress lists a table as queued with the server's row estimate.
func (s *source) queueProgress(ctx context.Context, name string) {
	var total int64
	if db, tbl, ok := strings.Cut(name, "."); ok && s.db != nil {
		_ = s.db.QueryRowContext(ctx, "SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, tbl).Scan(&total)
	}
	s.inc.progress.Queue(name, total)
	s.updateProgress(name, "", 0)
}

// updateProgress records a table's state and rows, and what is left as the
// task's gauges.
func (s *source) updateProgress(name, state string, rows int64) {
	s.inc.progress.Update(name, state, rows)
	s.inc.progress.Gauges(s.env.SetGauge)
}
