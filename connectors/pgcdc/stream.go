package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// txState tracks one streamed transaction until all its records are
// acknowledged, when the slot may be confirmed past its end.
type txState struct {
	final     pglogrepl.LSN // commit LSN, from Begin: the position's LSN
	end       pglogrepl.LSN // end of the commit record, from Commit
	last      int           // number of the last record handed out (skipped ones count)
	acked     int
	committed bool
}

// streamer owns the replication connection: it decodes pgoutput messages
// into batches of records and, from the same goroutine, reports the
// confirmed position to the server.
type streamer struct {
	s    *source
	conn *pgconn.PgConn
	out  chan []sdk.Record
	rels map[uint32]*table

	skipLSN pglogrepl.LSN
	skipN   int

	// lastFinal and lastN are the transaction of the last record handed
	// out (or skipped) and its number: where a record between two
	// transactions resumes.
	lastFinal pglogrepl.LSN
	lastN     int

	cur   *txState // the open transaction
	xid   uint32
	ctime time.Time
	// ctimeText is ctime as the header writes it, once per transaction.
	ctimeText string
	n         int // records of cur so far
	batch     []sdk.Record

	mu      sync.Mutex
	pending []*txState
	safe    pglogrepl.LSN // confirmed flush LSN to report; never zero once started
	walEnd  pglogrepl.LSN // latest server WAL end seen in a keepalive
	sent    pglogrepl.LSN
	err     error
}

// maxTxBatch bounds the records of one batch inside a large transaction.
const maxTxBatch = 1024

func newStreamer(s *source, conn *pgconn.PgConn, start pglogrepl.LSN, skip *position) *streamer {
	st := &streamer{s: s, conn: conn, out: make(chan []sdk.Record, 8), rels: map[uint32]*table{}, safe: start}
	if skip != nil {
		st.skipLSN, _ = pglogrepl.ParseLSN(skip.LSN)
		st.skipN = skip.N
		st.lastFinal, st.lastN = st.skipLSN, st.skipN
	}
	return st
}

func (st *streamer) start(ctx context.Context) error {
	args := []string{"proto_version '1'", "publication_names '" + st.s.cfg.publication + "'"}
	if st.s.pgVersion >= 140000 {
		args = append(args, "messages 'true'") // incremental snapshots' watermarks
	}
	err := pglogrepl.StartReplication(ctx, st.conn, st.s.cfg.slot, st.safe, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication, PluginArgs: args,
	})
	if err != nil {
		return sdk.Retryable(fmt.Errorf("start replication from slot %s at %s: %w", st.s.cfg.slot, st.safe, err))
	}
	st.s.log.Info("streaming", "from", st.safe.String(), "publication", st.s.cfg.publication)
	return nil
}

func (st *streamer) failure() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == nil {
		return sdk.Retryable(errors.New("replication stream ended"))
	}
	return st.err
}

// statusInterval is how often the streamer reports its position unasked.
const statusInterval = time.Second

func (st *streamer) run(ctx context.Context) {
	defer close(st.out)
	err := st.loop(ctx)
	// Report what is confirmed before going, so a clean stop keeps the slot
	// as far as the log acknowledged.
	_ = st.sendStatus(true)
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	st.mu.Lock()
	st.err = err
	st.mu.Unlock()
}

func (st *streamer) loop(ctx context.Context) error {
	lastStatus := time.Now()
	for {
		if st.cur == nil {
			if err := st.incStep(ctx); err != nil {
				return err
			}
		}
		if time.Since(lastStatus) >= statusInterval {
			if err := st.sendStatus(false); err != nil {
				return sdk.Retryable(fmt.Errorf("send standby status: %w", err))
			}
			lastStatus = time.Now()
		}
		rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		msg, err := st.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return sdk.Retryable(fmt.Errorf("replication stream: %w", err))
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return sdk.Retryable(fmt.Errorf("replication stream: %s: %s", m.Code, m.Message))
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return err
				}
				st.keepalive(ka.ServerWALEnd)
				if ka.ReplyRequested {
					if err := st.sendStatus(true); err != nil {
						return sdk.Retryable(err)
					}
					lastStatus = time.Now()
				}
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return err
				}
				if err := st.handle(ctx, x); err != nil {
					return err
				}
			}
		}
	}
}

// keepalive notes the server's WAL end: once every transaction sent before
// it is acknowledged, the slot may be confirmed up to it (what lets an idle
// slot, or one whose changes are all for other tables, move on).
func (st *streamer) keepalive(end pglogrepl.LSN) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if end > st.walEnd {
		st.walEnd = end
	}
	st.advance()
}

// advance moves safe past fully acknowledged transactions; mu is held.
func (st *streamer) advance() {
	for len(st.pending) > 0 {
		tx := st.pending[0]
		if !tx.committed || tx.acked < tx.last {
			return
		}
		if tx.end > st.safe {
			st.safe = tx.end
		}
		st.pending = st.pending[1:]
	}
	if st.cur == nil && st.walEnd > st.safe {
		st.safe = st.walEnd
	}
}

// ack records that the records up to number n of the transaction
// committing at lsn, and everything before it, are in the log.
func (st *streamer) ack(lsn pglogrepl.LSN, n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, tx := range st.pending {
		switch {
		case tx.final < lsn:
			tx.acked = tx.last
		case tx.final == lsn:
			tx.acked = max(tx.acked, n)
		}
	}
	st.advance()
}

// sendStatus reports safe as written, flushed and applied. It never sends
// zero: pglogrepl would then report the write position as flushed.
func (st *streamer) sendStatus(force bool) error {
	st.mu.Lock()
	safe := st.safe
	changed := safe != st.sent
	st.sent = safe
	st.mu.Unlock()
	if safe == 0 || (!changed && !force) {
		return nil
	}
	return pglogrepl.SendStandbyStatusUpdate(context.Background(), st.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: safe, WALFlushPosition: safe, WALApplyPosition: safe,
	})
}

func (st *streamer) handle(ctx context.Context, x pglogrepl.XLogData) error {
	msg, err := pglogrepl.Parse(x.WALData)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("decode pgoutput message at %s: %w", x.WALStart, err))
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		st.relation(m)
	case *pglogrepl.BeginMessage:
		tx := &txState{final: m.FinalLSN}
		st.mu.Lock()
		st.cur = tx
		st.pending = append(st.pending, tx)
		st.mu.Unlock()
		st.xid, st.ctime, st.ctimeText, st.n = m.Xid, m.CommitTime, tsText(m.CommitTime), 0
	case *pglogrepl.CommitMessage:
		st.mu.Lock()
		if st.cur != nil {
			st.cur.end, st.cur.committed, st.cur.last = m.TransactionEndLSN, true, st.n
		}
		st.cur = nil
		st.advance()
		st.mu.Unlock()
		return st.flush(ctx)
	case *pglogrepl.InsertMessage:
		return st.change(ctx, x.WALStart, m.RelationID, sdk.OpCreate, 0, nil, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return st.change(ctx, x.WALStart, m.RelationID, sdk.OpUpdate, m.OldTupleType, m.OldTuple, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		return st.change(ctx, x.WALStart, m.RelationID, sdk.OpDelete, m.OldTupleType, m.OldTuple, nil)
	case *pglogrepl.LogicalDecodingMessage:
		return st.message(ctx, m)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			if t := st.rels[id]; t != nil {
				st.s.log.Warn("TRUNCATE is not propagated: sinks keep the table's rows", "table", t.full, "lsn", x.WALStart.String())
			}
		}
	}
	return nil
}

// relation maps a relation id to its captured table, rebuilding the
// table's columns when they differ from what the source knew (a DDL).
func (st *streamer) relation(m *pglogrepl.RelationMessage) {
	full := m.Namespace + "." + m.RelationName
	t := st.s.tables[full]
	if t == nil {
		return // in the publication but not selected
	}
	same := len(m.Columns) == len(t.cols)
	for i := 0; same && i < len(m.Columns); i++ {
		same = m.Columns[i].Name == t.cols[i].name && m.Columns[i].DataType == t.cols[i].oid
	}
	if !same {
		old := map[string]column{}
		for _, c := range t.cols {
			old[c.name] = c
		}
		nt := *t
		nt.cols, nt.key = nil, nil
		for i, rc := range m.Columns {
			c, ok := old[rc.Name]
			if !ok || c.oid != rc.DataType {
				c = column{name: rc.Name, oid: rc.DataType, typmod: rc.TypeModifier, field: fieldFor(rc.Name, rc.DataType, rc.TypeModifier, rc.Flags&1 == 0)}
			}
			nt.cols = append(nt.cols, c)
			if rc.Flags&1 != 0 {
				nt.key = append(nt.key, i)
			}
		}
		nt.buildSchema()
		st.s.log.Info("table schema changed", "table", full, "columns", len(nt.cols))
		t = &nt
		st.s.tables[full] = t
	}
	st.rels[m.RelationID] = t
}

// decodeTuple turns tuple data into a row. Unchanged TOASTed values ('u')
// are left out: pgoutput does not send them and a placeholder would
// overwrite the stored value in a sink.
func decodeTuple(t *table, td *pglogrepl.TupleData) (map[string]any, error) {
	if td == nil {
		return nil, nil
	}
	row := make(map[string]any, len(td.Columns))
	for i, col := range td.Columns {
		if i >= len(t.cols) {
			break
		}
		c := &t.cols[i]
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			row[c.name] = nil
		case pglogrepl.TupleDataTypeToast:
		case pglogrepl.TupleDataTypeText:
			v, err := decodeText(c, string(col.Data))
			if err != nil {
				return nil, err
			}
			row[c.name] = v
		default:
			return nil, fmt.Errorf("column %q: binary tuple data was not asked for", c.name)
		}
	}
	return row, nil
}

func (st *streamer) change(ctx context.Context, at pglogrepl.LSN, rel uint32, op sdk.Operation, oldType uint8, oldTD, newTD *pglogrepl.TupleData) error {
	t := st.rels[rel]
	if t == nil || st.cur == nil {
		return nil
	}
	before, err := decodeTuple(t, oldTD)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("%s at %s: %w", t.full, at, err))
	}
	if oldType == pglogrepl.UpdateMessageTupleTypeKey && before != nil {
		// A key tuple sends the other columns as NULLs, which they are not.
		key := make(map[string]any, len(t.key))
		for _, k := range t.key {
			n := t.cols[k].name
			key[n] = before[n]
		}
		before = key
	}
	after, err := decodeTuple(t, newTD)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("%s at %s: %w", t.full, at, err))
	}
	if after != nil && before != nil {
		// REPLICA IDENTITY FULL sends the old row whole: it has the
		// values of unchanged TOASTed columns.
		for _, c := range t.cols {
			if _, ok := after[c.name]; !ok {
				if v, ok := before[c.name]; ok {
					after[c.name] = v
				}
			}
		}
	}
	st.incDrop(t, before, after)
	if op == sdk.OpUpdate && before != nil && len(t.key) > 0 {
		if ok, _ := sameKey(t, before, after); !ok {
			// The key changed: the old row is gone, as a sink must see.
			if err := st.emit(ctx, t, at, sdk.OpDelete, before, nil); err != nil {
				return err
			}
		}
	}
	return st.emit(ctx, t, at, op, before, after)
}

func sameKey(t *table, a, b map[string]any) (bool, error) {
	for _, k := range t.key {
		n := t.cols[k].name
		if fmt.Sprint(a[n]) != fmt.Sprint(b[n]) {
			return false, nil
		}
	}
	return true, nil
}

func (st *streamer) emit(ctx context.Context, t *table, at pglogrepl.LSN, op sdk.Operation, before, after map[string]any) error {
	st.n++
	st.mu.Lock()
	st.cur.last = st.n
	final := st.cur.final
	st.lastFinal, st.lastN = final, st.n
	if final < st.skipLSN || (final == st.skipLSN && st.n <= st.skipN) {
		st.cur.acked = st.n // handed out before the restart
		st.mu.Unlock()
		return nil
	}
	st.mu.Unlock()
	keyRow := after
	if op == sdk.OpDelete {
		keyRow = before
	}
	rec := sdk.Record{
		Topic: t.topic, Key: keyJSON(t, keyRow), Fields: after, Before: before, Schema: t.sch, Op: op,
		Timestamp: st.ctime, Position: position{LSN: final.String(), N: st.n, Inc: st.s.inc.position()}.bytes(),
		Headers: st.s.baseHeaders(t, at.String(), st.ctimeText),
	}
	rec.Headers = append(rec.Headers, sdk.Header{Key: HeaderTxID, Value: strconv.FormatUint(uint64(st.xid), 10)})
	st.batch = append(st.batch, rec)
	if len(st.batch) >= maxTxBatch {
		return st.flush(ctx)
	}
	return nil
}

func (st *streamer) flush(ctx context.Context) error {
	if len(st.batch) == 0 {
		return nil
	}
	b := st.batch
	st.batch = nil
	select {
	case st.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
