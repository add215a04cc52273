package pgcdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/connectors/internal/cdcenv"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Record headers the source sets.
const (
	HeaderDB     = "braid.source.db"
	HeaderTable  = "braid.source.table"
	HeaderPos    = "braid.source.pos"
	HeaderTS     = "braid.source.ts"
	HeaderTxID   = "braid.source.txid"
	HeaderSchema = "braid.schema"
)

type source struct {
	cfg    config
	env    sdk.Env
	log    *slog.Logger
	db     *pgxpool.Pool
	dbName string
	tables map[string]*table // by schema.table
	order  []*table          // sorted by name

	repl     *pgconn.PgConn // replication connection
	startLSN pglogrepl.LSN  // the slot's confirmed flush (or consistent point) at Open
	skip     *position      // the stored stream position to resume after

	snap *snapshot // non-nil while snapshotting
	inc  incremental

	pgVersion int // server_version_num

	stream     *streamer
	stopStream context.CancelFunc
	streamDone chan struct{}
	hbStop     context.CancelFunc
	hbDone     chan struct{}

	retained      atomic.Int64
	retainedKnown atomic.Bool
	overMax       atomic.Bool // the last heartbeat found the slot above slot.max.retained.bytes

	mu       sync.Mutex
	progress sdk.Progress
}

func newSource(c config, env sdk.Env) *source {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &source{cfg: c, env: env, log: log.With("slot", c.slot)}
}

// Deleted drops the replication slot when slot.drop.on.delete is set
// (sdk.Deleter: the connector was deleted; its tasks have stopped).
func (s *source) Deleted(ctx context.Context) error {
	if !s.cfg.dropSlot {
		return nil
	}
	db, err := connectPool(ctx, s.cfg.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// The stopped task's walsender may take a moment to release the slot.
	for {
		_, err = db.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.slot)
		if err == nil {
			s.log.Info("replication slot dropped: the connector was deleted")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drop replication slot %s: %w", s.cfg.slot, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func connectPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, sdk.Fatal(fmt.Errorf("dsn: %w", err))
	}
	for k, v := range sessionParams {
		pc.ConnConfig.RuntimeParams[k] = v
	}
	pc.MaxConns = 4
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("connect: %w", err))
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, sdk.Retryable(fmt.Errorf("connect: %w", err))
	}
	return db, nil
}

func connectReplication(ctx context.Context, dsn string) (*pgconn.PgConn, error) {
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, sdk.Fatal(fmt.Errorf("dsn: %w", err))
	}
	for k, v := range sessionParams {
		pc.RuntimeParams[k] = v
	}
	pc.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("replication connection (the role needs the REPLICATION attribute): %w", err))
	}
	return conn, nil
}

// Open connects, finds the tables, makes sure the publication and slot
// exist and decides between snapshot and stream from pos.
func (s *source) Open(ctx context.Context, raw sdk.Position) error {
	pos, err := parsePosition(raw)
	if err != nil {
		return err
	}
	if s.db, err = connectPool(ctx, s.cfg.dsn); err != nil {
		return err
	}
	if err := s.db.QueryRow(ctx, "SELECT current_database(), current_setting('server_version_num')::int").Scan(&s.dbName, &s.pgVersion); err != nil {
		return sdk.Retryable(err)
	}
	if pos != nil && pos.Inc != nil {
		s.inc.pos = *pos.Inc
	}
	if err := s.loadTables(ctx); err != nil {
		return err
	}
	if s.cfg.mode == SnapshotInitialOnly {
		// A one-off read needs no slot: one REPEATABLE READ transaction is consistent.
		var sp *snapPos
		if pos != nil && pos.Snap != nil {
			sp = pos.Snap
		} else if pos != nil {
			return sdk.ErrEndOfInput
		}
		return s.startSnapshot(ctx, sp, "")
	}
	if err := ensurePublication(ctx, s.db, s.cfg, s.order); err != nil {
		return err
	}
	exists, confirmed, err := s.slotState(ctx)
	if err != nil {
		return err
	}
	if s.repl, err = connectReplication(ctx, s.cfg.dsn); err != nil {
		return err
	}
	if err := s.resume(ctx, pos, exists, confirmed); err != nil {
		return err
	}
	for _, t := range s.inc.pos.Tables {
		s.queueProgress(ctx, t)
	}
	s.startHeartbeat()
	return nil
}

// resume decides, from the stored position and the slot, whether to
// snapshot (and from where) or to stream.
func (s *source) resume(ctx context.Context, pos *position, exists bool, confirmed pglogrepl.LSN) error {
	wantSnap := s.cfg.mode != SnapshotNever
	switch {
	case pos == nil && !exists:
		return s.createSlot(ctx, wantSnap)
	case pos == nil:
		s.startLSN = confirmed
		if wantSnap {
			s.log.Warn("the slot exists but there is no stored position: snapshotting the current state, then streaming from the slot's confirmed position (rows changed since are read again)")
			return s.startSnapshot(ctx, &snapPos{Start: confirmed.String()}, "")
		}
	case pos.Snap != nil && !exists:
		s.log.Warn("the slot is gone while a snapshot was in progress: creating it again and restarting the snapshot")
		return s.createSlot(ctx, true)
	case pos.Snap != nil:
		s.startLSN = confirmed
		return s.startSnapshot(ctx, pos.Snap, "")
	case !exists && s.cfg.mode == SnapshotWhenNeeded:
		s.log.Warn("the slot of the stored position is gone: creating it again and snapshotting (snapshot.mode when_needed)", "position", pos.LSN)
		return s.createSlot(ctx, true)
	case !exists:
		return sdk.Fatal(fmt.Errorf("replication slot %s is gone, so the changes after position %s are lost: "+
			"set snapshot.mode: when_needed to snapshot again, or delete the stored position", s.cfg.slot, pos.LSN))
	default:
		s.startLSN = confirmed
		s.skip = pos
	}
	return nil
}

func (s *source) loadTables(ctx context.Context) error {
	names, err := discover(ctx, s.db, s.cfg)
	if err != nil {
		return sdk.Retryable(err)
	}
	if len(names) == 0 {
		return sdk.Fatal(fmt.Errorf("tables %v (exclude.tables %v) match no table of database %s", s.cfg.tables, s.cfg.exclude, s.dbName))
	}
	s.tables = map[string]*table{}
	s.order = nil
	for _, n := range names {
		t, err := describe(ctx, s.db, n, s.cfg.topic)
		if err != nil {
			return err
		}
		s.tables[n] = t
		s.order = append(s.order, t)
		s.log.Info("capturing table", "table", n, "replica_identity", t.identityNote())
	}
	return nil
}

func (s *source) slotState(ctx context.Context) (bool, pglogrepl.LSN, error) {
	var lsn *string
	var plugin string
	err := s.db.QueryRow(ctx, `SELECT confirmed_flush_lsn::text, plugin FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.slot).Scan(&lsn, &plugin)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, sdk.Retryable(fmt.Errorf("look up slot %s: %w", s.cfg.slot, err))
	}
	if plugin != "pgoutput" || lsn == nil {
		return false, 0, sdk.Fatal(fmt.Errorf("slot %s exists but is not a logical pgoutput slot (plugin %q): drop it or choose another slot name", s.cfg.slot, plugin))
	}
	l, err := pglogrepl.ParseLSN(*lsn)
	return true, l, err
}

// createSlot creates the slot; with snap it exports the slot's snapshot and
// imports it at once, so the snapshot reads exactly the state at the slot's
// consistent point and the stream starts right after it.
func (s *source) createSlot(ctx context.Context, snap bool) error {
	action := "NOEXPORT_SNAPSHOT"
	if snap {
		action = "EXPORT_SNAPSHOT"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, s.repl, s.cfg.slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action})
	if err != nil {
		return sdk.Retryable(fmt.Errorf("create replication slot %s (needs wal_level=logical and a free slot under max_replication_slots): %w", s.cfg.slot, err))
	}
	if s.startLSN, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
		return err
	}
	s.log.Info("created replication slot", "consistent_point", res.ConsistentPoint)
	if snap {
		if err := s.startSnapshot(ctx, &snapPos{Start: res.ConsistentPoint}, res.SnapshotName); err != nil {
			return err
		}
	}
	return nil
}

// maxReadBatch bounds the records one Read collects from ready batches.
const maxReadBatch = 8192

// maxIdleWait is the longest Read waits before answering sdk.ErrBackoff.
const maxIdleWait = 500 * time.Millisecond

// Read returns the next snapshot chunk, then the next streamed changes.
func (s *source) Read(ctx context.Context) ([]sdk.Record, error) {
	recs, err := s.read(ctx)
	if s.cfg.envelope == cdcenv.Debezium && len(recs) > 0 {
		recs = cdcenv.Wrap(recs, debeziumSource(s.env.Connector))
	}
	return recs, err
}

// debeziumSource fills the PostgreSQL fields of Debezium's source block.
func debeziumSource(name string) cdcenv.Source {
	return cdcenv.Source{Connector: "postgresql", Name: name, Position: func(pos, txid string, b map[string]any) {
		if lsn, err := pglogrepl.ParseLSN(pos); err == nil {
			b["lsn"] = int64(lsn)
		}
		if n, err := strconv.ParseInt(txid, 10, 64); err == nil {
			b["txId"] = n
		} else {
			b["txId"] = nil
		}
	}}
}

func (s *source) read(ctx context.Context) ([]sdk.Record, error) {
	if s.snap != nil {
		recs, err := s.snap.next(ctx, s)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		if err := s.finishSnapshot(ctx); err != nil {
			return nil, err
		}
		if s.cfg.mode == SnapshotInitialOnly {
			return nil, sdk.ErrEndOfInput
		}
	}
	if s.cfg.mode == SnapshotInitialOnly {
		return nil, sdk.ErrEndOfInput
	}
	if s.stream == nil {
		if err := s.startStream(ctx); err != nil {
			return nil, err
		}
	}
	t := time.NewTimer(maxIdleWait)
	defer t.Stop()
	select {
	case b, ok := <-s.stream.out:
		if !ok {
			return nil, s.stream.failure()
		}
		// Take what else is ready, so small transactions do not go to the
		// log one Read each.
		for len(b) < maxReadBatch {
			select {
			case more, ok := <-s.stream.out:
				if !ok {
					return b, nil // the failure comes with the next Read
				}
				b = append(b, more...)
				continue
			default:
			}
			break
		}
		return b, nil
	case <-s.streamDone:
		return nil, s.stream.failure()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, sdk.ErrBackoff
	}
}

func (s *source) startStream(ctx context.Context) error {
	st := newStreamer(s, s.repl, s.startLSN, s.skip)
	if err := st.start(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock() // Ack reads stream from the worker's other goroutine
	s.stream = st
	s.mu.Unlock()
	s.stopStream, s.streamDone = cancel, make(chan struct{})
	s.setProgress(func(p *sdk.Progress) { p.Phase = "streaming" })
	go func() {
		defer close(s.streamDone)
		st.run(sctx)
	}()
	return nil
}

// Ack moves the slot's confirmed position past every transaction whose
// records are all acknowledged; snapshot positions need nothing.
func (s *source) Ack(ctx context.Context, raw sdk.Position) error {
	pos, err := parsePosition(raw)
	if err != nil || pos == nil || pos.Snap != nil {
		return err
	}
	s.mu.Lock()
	st := s.stream
	s.mu.Unlock()
	if st == nil {
		return nil
	}
	lsn, _ := pglogrepl.ParseLSN(pos.LSN)
	st.ack(lsn, pos.N)
	return nil
}

// Close stops the stream (after telling the server the last confirmed
// position) and the heartbeats, and closes the connections.
func (s *source) Close(ctx context.Context) error {
	if s.stopStream != nil {
		s.stopStream()
		select {
		case <-s.streamDone:
		case <-ctx.Done():
		}
	}
	if s.hbStop != nil {
		s.hbStop()
		<-s.hbDone
	}
	if s.snap != nil {
		s.snap.close()
		s.snap = nil
	}
	if s.repl != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.repl.Close(cctx)
		cancel()
		s.repl = nil
	}
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
	return nil
}

// Progress implements sdk.Snapshotter.
func (s *source) Progress() sdk.Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.progress
	s.inc.progress.Fill(&p)
	return p
}

func (s *source) setProgress(f func(p *sdk.Progress)) {
	s.mu.Lock()
	f(&s.progress)
	s.mu.Unlock()
}

// keyJSON renders the primary-key values of a row as the record key.
func keyJSON(t *table, row map[string]any) []byte {
	if len(t.key) == 0 {
		return nil
	}
	m := make(map[string]any, len(t.key))
	for _, k := range t.key {
		n := t.cols[k].name
		m[n] = row[n]
	}
	b, _ := json.Marshal(m)
	return b
}

// tsText is a time as the braid.source.ts header writes it.
func tsText(ts time.Time) string { return ts.UTC().Format(time.RFC3339Nano) }

func (s *source) baseHeaders(t *table, pos string, ts string) sdk.Headers {
	return sdk.Headers{
		{Key: HeaderDB, Value: s.dbName},
		{Key: HeaderTable, Value: t.full},
		{Key: HeaderPos, Value: pos},
		{Key: HeaderTS, Value: ts},
		{Key: HeaderSchema, Value: t.hdr},
	}
}

// Schemas implements sdk.SchemaProvider; it is valid after Open.
func (s *source) Schemas(ctx context.Context) ([]sdk.SchemaInfo, error) {
	if s.db == nil {
		return nil, errors.New("postgres-cdc: Schemas called before Open")
	}
	out := make([]sdk.SchemaInfo, len(s.order))
	for i, t := range s.order {
		topic := t.topic
		if topic == "" {
			topic = s.env.Topic
		}
		out[i] = sdk.SchemaInfo{Topic: topic, Schema: t.sch}
	}
	return out, nil
}
