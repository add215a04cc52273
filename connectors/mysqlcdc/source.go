package mysqlcdc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/braidhq/braid/connectors/internal/cdcenv"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// The record headers the source sets besides the schema.
const (
	HeaderSchema = "braid.schema"
	HeaderDB     = "braid.source.db"
	HeaderTable  = "braid.source.table"
	HeaderPos    = "braid.source.pos"
	HeaderTS     = "braid.source.ts"
	HeaderTxID   = "braid.source.txid"
)

// ErrPositionPurged is returned when the stored position is older than the
// oldest binlog the server still has.
var ErrPositionPurged = errors.New("binlog position purged")

type source struct {
	cfg config
	env sdk.Env
	log *slog.Logger

	db      *sql.DB
	flavor  string // mysql or mariadb
	host    string
	port    uint16
	user    string
	pass    string
	base    context.Context // outlives a Read; Close cancels it
	stopAll context.CancelFunc

	snap   *snapshot // nil once streaming
	stream *stream
	inc    incremental

	mu       sync.Mutex
	progress sdk.Progress
}

func newSource(cfg config, env sdk.Env) *source {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &source{cfg: cfg, env: env, log: log}
}

// Open connects, checks the binlog settings, and decides from pos and
// snapshot.mode whether to snapshot or to stream, and from where.
func (s *source) Open(ctx context.Context, pos sdk.Position) error {
	dc, err := driver.ParseDSN(s.cfg.dsn)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("dsn: %w", err))
	}
	if dc.Net != "tcp" && dc.Net != "" {
		return sdk.Fatal(fmt.Errorf("dsn: network %q is not supported; use tcp(host:port)", dc.Net))
	}
	host, port, err := net.SplitHostPort(dc.Addr)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("dsn address %q: %w", dc.Addr, err))
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("dsn port %q: %w", port, err))
	}
	s.host, s.port, s.user, s.pass = host, uint16(p), dc.User, dc.Passwd
	dc.DBName, dc.ParseTime = "", false // every snapshot value as text, parsed by its column
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	dc.Params["time_zone"] = "'+00:00'" // TIMESTAMPs read as UTC, like the binlog's
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("dsn: %w", err))
	}
	s.db = sql.OpenDB(conn)
	s.db.SetMaxOpenConns(2)
	if err := s.checkServer(ctx); err != nil {
		return err
	}
	s.base, s.stopAll = context.WithCancel(context.WithoutCancel(ctx))

	var start position
	fresh := len(pos) == 0
	if !fresh {
		if start, err = decodePosition(pos); err != nil {
			return sdk.Fatal(err)
		}
		if start.Inc != nil {
			s.inc.pos = *start.Inc
		}
		if start.Snap == nil {
			if err := s.checkAvailable(ctx, start); err != nil {
				if !errors.Is(err, ErrPositionPurged) || s.cfg.mode != SnapshotWhenNeeded {
					return err
				}
				s.log.Warn("stored binlog position is purged; snapshotting again (snapshot.mode when_needed)", "error", err)
				fresh = true
				s.inc.pos = incPos{Req: s.inc.pos.Req} // the full snapshot reads every table
			}
		}
	}
	if fresh {
		if start, err = s.currentPosition(ctx); err != nil {
			return err
		}
		// The definitions as of the start, so a DDL during the snapshot
		// replays with the JSON columns valid before it.
		if start.Sch, err = s.openHistory(ctx, nil); err != nil {
			return err
		}
		if s.cfg.mode != SnapshotNever {
			start.Snap = &snapPos{}
		}
	}
	if start.Snap != nil {
		s.snap, err = s.newSnapshot(ctx, start)
		if err != nil {
			return err
		}
		s.setProgress(sdk.Progress{Phase: "snapshot", Total: s.snap.estimate})
		return nil
	}
	s.setProgress(sdk.Progress{Phase: "streaming"})
	for _, t := range s.inc.pos.Tables {
		s.queueProgress(ctx, t)
	}
	if err := s.startStream(start); err != nil {
		return err
	}
	s.stream.announce = fresh
	return nil
}

// checkServer finds the flavor and refuses settings that lose changes.
func (s *source) checkServer(ctx context.Context) error {
	var version, logBin, format, image string
	err := s.db.QueryRowContext(ctx, "SELECT VERSION(), @@log_bin, @@binlog_format, @@binlog_row_image").Scan(&version, &logBin, &format, &image)
	if err != nil {
		return fmt.Errorf("read server settings: %w", err)
	}
	s.flavor = "mysql"
	if strings.Contains(strings.ToLower(version), "mariadb") {
		s.flavor = "mariadb"
	}
	var wrong []string
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		wrong = append(wrong, "log_bin is off (start the server with --log-bin)")
	}
	if !strings.EqualFold(format, "ROW") {
		wrong = append(wrong, fmt.Sprintf("binlog_format is %s, set binlog_format=ROW", format))
	}
	if !strings.EqualFold(image, "FULL") {
		wrong = append(wrong, fmt.Sprintf("binlog_row_image is %s, set binlog_row_image=FULL", image))
	}
	var meta string
	err = s.db.QueryRowContext(ctx, "SELECT @@binlog_row_metadata").Scan(&meta)
	var me *driver.MySQLError
	switch {
	case errors.As(err, &me) && me.Number == 1193: // unknown variable: an old server
		wrong = append(wrong, "the server has no binlog_row_metadata (MySQL 8.0.1+ or MariaDB 10.5+ are needed)")
	case err != nil:
		return fmt.Errorf("read binlog_row_metadata: %w", err)
	case !strings.EqualFold(meta, "FULL"):
		wrong = append(wrong, fmt.Sprintf("binlog_row_metadata is %s, set binlog_row_metadata=FULL", meta))
	}
	if len(wrong) > 0 {
		return sdk.Fatal(fmt.Errorf("server %s cannot be captured: %s", version, strings.Join(wrong, "; ")))
	}
	return nil
}

// currentPosition reads the binlog end and, on MariaDB, the GTID set that
// matches it exactly (BINLOG_GTID_POS), so the two never disagree.
func (s *source) currentPosition(ctx context.Context) (position, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return position{}, fmt.Errorf("read binlog position: %w", err)
	}
	cols, _ := rows.Columns()
	var p position
	if rows.Next() {
		dest := make([]any, len(cols))
		var file string
		var off uint32
		dest[0], dest[1] = &file, &off
		for i := 2; i < len(dest); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return p, err
		}
		p.File, p.Pos = file, off
	}
	rows.Close()
	if p.File == "" {
		return p, sdk.Fatal(errors.New("SHOW MASTER STATUS is empty: the binlog is off or the user lacks REPLICATION CLIENT"))
	}
	switch s.flavor {
	case "mariadb":
		var g sql.NullString
		if err := s.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", p.File, p.Pos).Scan(&g); err != nil {
			return p, fmt.Errorf("read GTID position: %w", err)
		}
		p.GTID = g.String
	}
	return p, nil
}

// checkAvailable reports ErrPositionPurged when p's file is older than the
// oldest binlog on the server.
func (s *source) checkAvailable(ctx context.Context, p position) error {
	rows, err := s.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return fmt.Errorf("list binlogs: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var oldest string
	for rows.Next() {
		dest := make([]any, len(cols))
		var name string
		dest[0] = &name
		for i := 1; i < len(dest); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if name == p.File {
			return nil
		}
		if oldest == "" {
			oldest = name
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return sdk.Fatal(fmt.Errorf("%w: the stored position %s is gone, the oldest binlog is %s; "+
		"set snapshot.mode when_needed to snapshot again, or reset the pipeline's position", ErrPositionPurged, p, oldest))
}

// maxIdleWait is the longest Read waits for a change before answering
// sdk.ErrBackoff.
const maxIdleWait = 200 * time.Millisecond

func (s *source) Read(ctx context.Context) ([]sdk.Record, error) {
	recs, err := s.read(ctx)
	if s.cfg.envelope == cdcenv.Debezium && len(recs) > 0 {
		recs = cdcenv.Wrap(recs, debeziumSource(s.env.Connector))
	}
	return recs, err
}

// debeziumSource fills the MySQL fields of Debezium's source block.
func debeziumSource(name string) cdcenv.Source {
	return cdcenv.Source{Connector: "mysql", Name: name, Position: func(pos, txid string, b map[string]any) {
		if file, off, ok := strings.Cut(pos, ":"); ok {
			b["file"] = file
			if n, err := strconv.ParseInt(off, 10, 64); err == nil {
				b["pos"] = n
			}
		}
		// Without GTIDs the transaction id is the commit's file:pos.
		if txid != "" && !strings.Contains(txid, ".") {
			b["gtid"] = txid
		} else {
			b["gtid"] = nil
		}
		b["row"] = 0
	}}
}

func (s *source) read(ctx context.Context) ([]sdk.Record, error) {
	if s.snap != nil {
		recs, done, err := s.snap.read(ctx, s.cfg.batch)
		if err != nil {
			return nil, err
		}
		s.addProgress(int64(len(recs)))
		if !done {
			return recs, nil
		}
		start := s.snap.start
		s.snap = nil
		if s.cfg.mode == SnapshotInitialOnly {
			s.setProgress(sdk.Progress{Phase: "done"})
			return recs, sdk.ErrEndOfInput
		}
		s.setProgress(sdk.Progress{Phase: "streaming"})
		if err := s.startStream(start); err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			return recs, nil
		}
	}
	return s.stream.read(ctx, s.cfg.batch)
}

// Ack needs nothing: the worker stores the position of what the log
// acknowledged and hands it back to Open.
func (s *source) Ack(ctx context.Context, pos sdk.Position) error { return nil }

func (s *source) Close(ctx context.Context) error {
	if s.stopAll != nil {
		s.stopAll()
	}
	if s.snap != nil {
		s.snap.close()
	}
	if s.stream != nil {
		s.stream.close()
	}
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// Progress implements sdk.Snapshotter.
func (s *source) Progress() sdk.Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.progress
	s.inc.progress.Fill(&p)
	return p
}

func (s *source) setProgress(p sdk.Progress) {
	s.mu.Lock()
	s.progress = p
	s.mu.Unlock()
}

func (s *source) addProgress(n int64) {
	s.mu.Lock()
	s.progress.Done += n
	s.mu.Unlock()
}

// table is one captured table's current definition.
type table struct {
	db, name string
	cols     []column
	key      []string
	keyIdx   []int
	schema   *schema.Schema
	hdr      string

	lastTS  time.Time // the last record's time and its header text: a
	lastTSs string    // transaction's or chunk's rows share one
}

func newTable(db, name string, cols []column, key []string) (*table, error) {
	t := &table{db: db, name: name, cols: cols, key: key}
	t.schema = &schema.Schema{Name: db + "." + name, Key: key}
	for _, c := range cols {
		t.schema.Fields = append(t.schema.Fields, c.field)
	}
	for _, k := range key {
		for i, c := range cols {
			if c.field.Name == k {
				t.keyIdx = append(t.keyIdx, i)
			}
		}
	}
	if err := t.schema.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(t.schema)
	if err != nil {
		return nil, err
	}
	t.hdr = string(b)
	return t, nil
}

// row converts one row image to record fields.
func (t *table) row(vals []any) (map[string]any, error) {
	if len(vals) != len(t.cols) {
		return nil, fmt.Errorf("table %s.%s: row has %d values, the table %d columns", t.db, t.name, len(vals), len(t.cols))
	}
	m := make(map[string]any, len(vals))
	for i := range t.cols {
		v, err := t.cols[i].value(vals[i])
		if err != nil {
			return nil, fmt.Errorf("table %s.%s: %w", t.db, t.name, err)
		}
		m[t.cols[i].field.Name] = v
	}
	return m, nil
}

// recordKey is the JSON object of the primary-key fields, nil without a key.
func (t *table) recordKey(fields map[string]any) ([]byte, error) {
	if len(t.key) == 0 {
		return nil, nil
	}
	k := make(map[string]any, len(t.key))
	for _, name := range t.key {
		k[name] = fields[name]
	}
	return json.Marshal(k)
}

// tsHeader is ts as the braid.source.ts header writes it.
func (t *table) tsHeader(ts time.Time) string {
	if t.lastTSs == "" || !ts.Equal(t.lastTS) {
		t.lastTS, t.lastTSs = ts, ts.UTC().Format(time.RFC3339Nano)
	}
	return t.lastTSs
}

func (t *table) record(op sdk.Operation, before, after map[string]any, pos sdk.Position, ts time.Time, at, txid string) (sdk.Record, error) {
	keyFrom := after
	if keyFrom == nil {
		keyFrom = before
	}
	key, err := t.recordKey(keyFrom)
	if err != nil {
		return sdk.Record{}, err
	}
	h := sdk.Headers{{Key: HeaderSchema, Value: t.hdr}, {Key: HeaderDB, Value: t.db}, {Key: HeaderTable, Value: t.name},
		{Key: HeaderPos, Value: at}, {Key: HeaderTS, Value: t.tsHeader(ts)}}
	if txid != "" {
		h = append(h, sdk.Header{Key: HeaderTxID, Value: txid})
	}
	return sdk.Record{Key: key, Headers: h, Timestamp: ts, Position: pos, Op: op, Before: before, Fields: after, Schema: t.schema}, nil
}
