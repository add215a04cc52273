package mysqlcdc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/braidhq/braid/connectors/sdk"
)

// stream turns binlog events into records.
type stream struct {
	src      *source
	syncer   *replication.BinlogSyncer
	streamer *replication.BinlogStreamer

	commit position // end of the last complete transaction: every record's resume point
	file   string   // the binlog file being read
	gset   mysql.GTIDSet
	txGTID string // GTID of the open transaction
	rows   int    // rows of the open transaction emitted or skipped
	skip   int    // rows of the first transaction already published

	tables map[uint64]*streamTable

	hist       *history // as of commit (history.go)
	histTooBig bool     // positions carry no history
	parser     ddlParser
	failed     error // an event's error, for the next read: this one returns the records before it

	lastOut  time.Time // when a record last went out
	lastBeat position  // the commit the last heartbeat record carried

	announce bool // the first heartbeat goes out at once (see heartbeat)

	seenFile string // the end of the last event read (incremental.go)
	seenPos  uint32
}

type streamTable struct {
	tm *replication.TableMapEvent
	t  *table // nil when the table is not captured
}

func (s *source) startStream(p position) error {
	cfg := replication.BinlogSyncerConfig{
		ServerID: s.cfg.serverID, Flavor: s.flavor, Host: s.host, Port: s.port, User: s.user, Password: s.pass,
		ParseTime: true, TimestampStringLocation: time.UTC, HeartbeatPeriod: s.cfg.heartbeat,
		Logger: s.log,
		// go-mysql would reconnect from its own idea of the position, which
		// may be inside a transaction whose rows were counted already; the
		// worker reopens the source at the stored position instead.
		DisableRetrySync: true,
		// go-mysql parses ahead into a channel of this many events (10240
		// by default): with events of thousands of rows that held hundreds
		// of MiB while the log caught up. A few events keep the parser busy.
		EventCacheCount: 32,
	}
	st := &stream{src: s, commit: position{File: p.File, Pos: p.Pos, GTID: p.GTID}, file: p.File, skip: p.Skip,
		tables: map[uint64]*streamTable{}, seenFile: p.File, seenPos: p.Pos}
	var err error
	hctx, cancel := context.WithTimeout(s.base, 30*time.Second)
	st.hist, err = s.openHistory(hctx, p.Sch)
	cancel()
	if err != nil {
		return err
	}
	st.pinHistory()
	if s.flavor == "mariadb" {
		st.gset, err = mysql.ParseMariadbGTIDSet(p.GTID)
	} else {
		st.gset, err = mysql.ParseMysqlGTIDSet(p.GTID)
	}
	if err != nil {
		return sdk.Fatal(fmt.Errorf("position GTID %q: %w", p.GTID, err))
	}
	st.syncer = replication.NewBinlogSyncer(cfg)
	if p.GTID != "" {
		st.streamer, err = st.syncer.StartSyncGTID(st.gset.Clone())
	} else {
		st.streamer, err = st.syncer.StartSync(mysql.Position{Name: p.File, Pos: p.Pos})
	}
	if err != nil {
		st.syncer.Close()
		return fmt.Errorf("start binlog stream at %s: %w", p, err)
	}
	s.stream = st
	return nil
}

func (st *stream) close() {
	if st.syncer != nil {
		st.syncer.Close()
	}
}

// batchLinger is how long a read waits for more records after the first.
const batchLinger = 5 * time.Millisecond

// errWaited ends a read's wait for events.
var errWaited = errors.New("waited long enough")

// read returns up to max records, waiting at most maxIdleWait for the first
// and batchLinger for more.
func (st *stream) read(ctx context.Context, max int) ([]sdk.Record, error) {
	if st.failed != nil {
		return nil, st.failed
	}
	if err := st.incStep(ctx); err != nil {
		return nil, err
	}
	out, err := st.incEmit(ctx, nil)
	if err != nil {
		return nil, err
	}
	// Wait up to maxIdleWait for a first record, then at most batchLinger
	// more for others: a steady trickle of changes neither waits for a
	// full batch nor pays a timer per event.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lingering := len(out) > 0
	timer := time.AfterFunc(maxIdleWait, func() { cancel(errWaited) })
	defer timer.Stop()
	if lingering {
		timer.Reset(batchLinger)
	}
	for len(out) < max {
		ev, err := st.streamer.GetEvent(wctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(context.Cause(wctx), errWaited) {
				break
			}
			return nil, st.classify(err)
		}
		st.see(ev)
		next, err := st.handle(ctx, ev, out)
		if err != nil {
			if len(out) == 0 {
				return nil, err
			}
			st.failed = err // after the records before it went out
			break
		}
		out = next
		if out, err = st.incEmit(ctx, out); err != nil {
			return nil, err
		}
		if len(out) > 0 && !lingering {
			lingering = true
			timer.Reset(batchLinger)
		} else if len(out) == 0 {
			if hb, ok := st.heartbeat(); ok {
				return []sdk.Record{hb}, nil
			}
		}
	}
	if len(out) == 0 {
		if hb, ok := st.heartbeat(); ok {
			return []sdk.Record{hb}, nil
		}
		return nil, sdk.ErrBackoff
	}
	st.lastOut = time.Now()
	return out, nil
}

// heartbeat returns a record for the heartbeat topic carrying the current
// commit position, when the binlog moved past the last record without a
// captured change for heartbeat.interval: without it the stored position
// would stay behind while other tables are written, so a restart re-reads
// all of that and a purge of the binlog could lose the position (Debezium's
// heartbeat topic does the same).
func (st *stream) heartbeat() (sdk.Record, bool) {
	topic := st.src.cfg.heartbeatTopic
	if topic == "" || st.txGTID != "" || st.rows != 0 {
		return sdk.Record{}, false
	}
	if st.announce {
		// A stream begun at the binlog's end (snapshot.mode never) has no
		// stored position yet: store it now, or a restart before the first
		// captured change would begin at a later end and miss what came
		// between.
		st.announce = false
		st.lastOut = time.Time{}
	} else if st.commit == st.lastBeat {
		return sdk.Record{}, false
	} else if st.lastOut.IsZero() {
		st.lastOut = time.Now() // the stream just started: wait a full interval
	}
	if !st.lastOut.IsZero() && time.Since(st.lastOut) < st.src.cfg.heartbeat {
		return sdk.Record{}, false
	}
	st.lastOut, st.lastBeat = time.Now(), st.commit
	at := st.commit.String()
	key, _ := json.Marshal(map[string]string{"connector": st.src.env.Connector})
	value, _ := json.Marshal(map[string]any{"ts_ms": st.lastOut.UnixMilli(), "pos": at})
	return sdk.Record{Topic: topic, Key: key, Value: value, Timestamp: st.lastOut, Position: st.encode(st.commit),
		Headers: sdk.Headers{{Key: HeaderPos, Value: at}}}, true
}

// see records how far the stream has read the binlog.
func (st *stream) see(ev *replication.BinlogEvent) {
	if r, ok := ev.Event.(*replication.RotateEvent); ok {
		st.seenFile, st.seenPos = string(r.NextLogName), uint32(r.Position)
		return
	}
	if ev.Header.LogPos > 0 {
		st.seenFile, st.seenPos = st.file, ev.Header.LogPos
	}
}

// classify names a purged position; other stream errors are retried by
// the worker.
func (st *stream) classify(err error) error {
	var me *mysql.MyError
	if errors.As(err, &me) && me.Code == mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		return sdk.Fatal(fmt.Errorf("%w: reading from %s: %s; the server no longer has it", ErrPositionPurged, st.commit, me.Message))
	}
	return sdk.Retryable(fmt.Errorf("binlog stream: %w", err))
}

func (st *stream) handle(ctx context.Context, ev *replication.BinlogEvent, out []sdk.Record) ([]sdk.Record, error) {
	h := ev.Header
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		st.file = string(e.NextLogName)
		// The rotate a dump starts with (no timestamp) only names the file:
		// the resume point stays what was stored, byte for byte.
		if h.Timestamp != 0 && st.txGTID == "" && st.rows == 0 {
			st.commit.File, st.commit.Pos = st.file, uint32(e.Position)
		}
	case *replication.MariadbGTIDEvent:
		st.txGTID = e.GTID.String()
	case *replication.GTIDEvent:
		u, err := e.GTIDNext()
		if err == nil {
			st.txGTID = u.String()
		}
	case *replication.QueryEvent:
		q := strings.TrimSpace(string(e.Query))
		switch {
		case strings.EqualFold(q, "BEGIN"):
		case strings.EqualFold(q, "COMMIT"): // a non-transactional engine's rows
			st.commitAt(h.LogPos)
		default:
			if err := st.ddl(e, h, q); err != nil {
				return nil, err
			}
			st.commitAt(h.LogPos)
		}
	case *replication.XIDEvent:
		st.commitAt(h.LogPos)
	case *replication.TableMapEvent:
		if err := st.tableMap(ctx, e); err != nil {
			return nil, err
		}
	case *replication.RowsEvent:
		return st.rowsEvent(h, e, out)
	}
	return out, nil
}

func (st *stream) commitAt(logPos uint32) {
	if st.txGTID != "" {
		if err := st.gset.Update(st.txGTID); err == nil {
			st.commit.GTID = st.gset.String()
		}
	}
	st.commit.File, st.commit.Pos = st.file, logPos
	st.txGTID, st.rows, st.skip = "", 0, 0
}

func (st *stream) tableMap(ctx context.Context, tm *replication.TableMapEvent) error {
	if cur, ok := st.tables[tm.TableID]; ok && sameTable(cur.tm, tm) {
		cur.tm = tm
		return nil
	}
	db, name := string(tm.Schema), string(tm.Table)
	entry := &streamTable{tm: tm}
	st.tables[tm.TableID] = entry
	if !st.src.cfg.captures(db, name) {
		return nil
	}
	jc, err := st.jsonColumns(ctx, tm)
	if err != nil {
		return err
	}
	cols, key, err := columnsFromTableMap(tm, jc)
	if err != nil {
		return sdk.Fatal(err)
	}
	if entry.t, err = newTable(db, name, cols, key); err != nil {
		return sdk.Fatal(err)
	}
	return nil
}

// sameTable reports whether two TABLE_MAP events describe one definition.
func sameTable(a, b *replication.TableMapEvent) bool {
	if !bytes.Equal(a.Schema, b.Schema) || !bytes.Equal(a.Table, b.Table) || !bytes.Equal(a.ColumnType, b.ColumnType) ||
		len(a.ColumnMeta) != len(b.ColumnMeta) || len(a.ColumnName) != len(b.ColumnName) ||
		!bytes.Equal(a.NullBitmap, b.NullBitmap) || !bytes.Equal(a.SignednessBitmap, b.SignednessBitmap) ||
		len(a.PrimaryKey) != len(b.PrimaryKey) || len(a.EnumStrValue) != len(b.EnumStrValue) || len(a.SetStrValue) != len(b.SetStrValue) {
		return false
	}
	for i := range a.ColumnMeta {
		if a.ColumnMeta[i] != b.ColumnMeta[i] {
			return false
		}
	}
	for i := range a.ColumnName {
		if !bytes.Equal(a.ColumnName[i], b.ColumnName[i]) {
			return false
		}
	}
	for i := range a.PrimaryKey {
		if a.PrimaryKey[i] != b.PrimaryKey[i] {
			return false
		}
	}
	return fmt.Sprint(a.EnumStrValue, a.SetStrValue, a.DefaultCharset, a.ColumnCharset) ==
		fmt.Sprint(b.EnumStrValue, b.SetStrValue, b.DefaultCharset, b.ColumnCharset)
}

func (st *stream) rowsEvent(h *replication.EventHeader, e *replication.RowsEvent, out []sdk.Record) ([]sdk.Record, error) {
	entry, ok := st.tables[e.TableID]
	if !ok || entry.t == nil {
		return out, nil
	}
	t := entry.t
	var op sdk.Operation
	step := 1
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		op = sdk.OpCreate
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.PARTIAL_UPDATE_ROWS_EVENT:
		op, step = sdk.OpUpdate, 2
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		op = sdk.OpDelete
	default:
		return out, nil
	}
	ts := time.Unix(int64(h.Timestamp), 0).UTC()
	at := fmt.Sprintf("%s:%d", st.file, h.LogPos)
	txid := st.txGTID
	if txid == "" {
		txid = fmt.Sprintf("%s:%d", st.commit.File, st.commit.Pos)
	}
	for i := 0; i+step <= len(e.Rows); i += step {
		st.rows++
		if st.rows <= st.skip {
			continue
		}
		var before, after map[string]any
		var err error
		switch op {
		case sdk.OpCreate:
			after, err = t.row(e.Rows[i])
		case sdk.OpDelete:
			before, err = t.row(e.Rows[i])
		default:
			if before, err = t.row(e.Rows[i]); err == nil {
				after, err = t.row(e.Rows[i+1])
			}
		}
		if err != nil {
			return nil, sdk.Fatal(fmt.Errorf("at %s: %w", at, err))
		}
		st.incDrop(t, before, after)
		pos := st.commit // with the schema history
		pos.Skip = st.rows
		rec, err := t.record(op, before, after, st.encode(pos), ts, at, txid)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
