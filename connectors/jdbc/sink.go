package jdbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// tableTx is the open transaction of one table and the rows written in it
// since the last commit, replayed when the transaction is lost.
type tableTx struct {
	tx      *txConn
	pending [][]row // slices of written rows, never copied
}

type sink struct {
	cfg    sinkConfig
	env    sdk.Env
	log    *slog.Logger
	db     *sql.DB
	tables map[string]*tableMeta
	txs    map[string]*tableTx
	order  []string // tables in first-write order, for deterministic commits
	cache  colCache
	// headerSchemas holds the schemas jdbc-source records carry in a header.
	headerSchemas headerSchemas
	noCopy        bool // tests turn the COPY fast path off to exercise statements
	// bulkFallbacks counts chunks the bulk path refused, retries the
	// transactions replayed after transient errors (for tests and logs).
	bulkFallbacks, retries int
}

func newSink(cfg sdk.Config, env sdk.Env) (*sink, error) {
	c := parseSinkConfig(cfg)
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sink{cfg: c, env: env, log: log, tables: map[string]*tableMeta{}, txs: map[string]*tableTx{}}, nil
}

func (s *sink) Open(ctx context.Context) error {
	db, err := Open(ctx, s.cfg.dialect, s.cfg.dsn, s.log)
	if err != nil {
		return err
	}
	s.db = db
	return nil
}

// Write converts the records to rows and executes them in each table's open
// transaction. Records that cannot be written come back in a *sdk.BatchError;
// everything else is written (and durable after Flush).
func (s *sink) Write(ctx context.Context, records []sdk.Record) error {
	var failed []sdk.RecordError
	fail := func(idx int, where string, err error) {
		failed = append(failed, sdk.RecordError{Index: idx, Err: fmt.Errorf("%s: %w", where, err)})
	}
	byTable := map[string][]row{}
	var order []string
	for i := range records {
		r, ok, err := s.toRow(&records[i], i)
		if err != nil {
			fail(i, records[i].Where(), err)
			continue
		}
		if !ok {
			continue
		}
		if _, seen := byTable[r.table]; !seen {
			order = append(order, r.table)
		}
		if byTable[r.table] == nil {
			byTable[r.table] = make([]row, 0, len(records)-i)
		}
		byTable[r.table] = append(byTable[r.table], r)
	}
	for _, name := range order {
		rows, err := s.prepareRows(ctx, byTable[name], fail)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			continue
		}
		if err := s.writeTable(ctx, name, rows, fail); err != nil {
			return fmt.Errorf("table %q: %w", name, err)
		}
	}
	if len(failed) > 0 {
		return &sdk.BatchError{Records: failed}
	}
	return nil
}

// prepareRows makes sure the table exists with the rows' columns (committing
// the table's open transaction first, as DDL would wait on its locks).
func (s *sink) prepareRows(ctx context.Context, rows []row, fail func(int, string, error)) ([]row, error) {
	out := rows[:0]
	var checked []string // rows of one shape share their cols slice
	for i := range rows {
		r := &rows[i]
		if len(r.cols) > 0 && len(checked) == len(r.cols) && &checked[0] == &r.cols[0] {
			out = append(out, *r)
			continue
		}
		if m := s.tables[r.table]; m == nil || !hasAll(m, r.cols) {
			if err := s.commitTable(ctx, r.table); err != nil {
				return nil, err
			}
		}
		_, recErr, err := s.ensureTable(ctx, r)
		if err != nil {
			return nil, err
		}
		if errors.Is(recErr, errNoRowToDelete) {
			continue // done: nothing to delete
		}
		if recErr != nil {
			fail(r.idx, r.where(), recErr)
			continue
		}
		checked = r.cols
		out = append(out, *r)
	}
	return out, nil
}

func hasAll(m *tableMeta, cols []string) bool {
	for _, c := range cols {
		if !m.has(c) {
			return false
		}
	}
	return true
}

// writeTable executes rows in the table's transaction, retrying transient
// failures by replaying the uncommitted rows in a new transaction.
func (s *sink) writeTable(ctx context.Context, name string, rows []row, fail func(int, string, error)) error {
	tt := s.txs[name]
	if tt == nil {
		tt = &tableTx{}
		s.txs[name] = tt
		s.order = append(s.order, name)
	}
	backoff := s.cfg.backoff
	for attempt := 0; ; attempt++ {
		var failedNow []func()
		collect := func(idx int, where string, err error) {
			failedNow = append(failedNow, func() { fail(idx, where, err) })
		}
		written, err := s.inTx(ctx, name, tt, rows, collect)
		if err == nil {
			for _, f := range failedNow {
				f()
			}
			tt.pending = append(tt.pending, written...) // chunks, not rows
			return nil
		}
		s.abort(tt)
		if !isTransient(err) || attempt >= s.cfg.retries {
			return classify(err)
		}
		s.retries++
		s.log.Warn("transient database error, retrying the transaction", "table", name, "attempt", attempt+1, "error", err)
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff *= 2
	}
}

// inTx opens the table's transaction if needed (replaying pending rows) and
// executes rows in it; it returns the chunks of rows that were written.
func (s *sink) inTx(ctx context.Context, name string, tt *tableTx, rows []row, fail func(int, string, error)) ([][]row, error) {
	if tt.tx == nil {
		tx, err := beginTx(ctx, s.db)
		if err != nil {
			return nil, err
		}
		tt.tx = tx
		for _, rows := range tt.pending {
			if _, err := s.execRows(ctx, tt.tx, s.tables[name], rows, func(int, string, error) {}); err != nil {
				return nil, fmt.Errorf("replay uncommitted rows: %w", err)
			}
		}
	}
	return s.execRows(ctx, tt.tx, s.tables[name], rows, fail)
}

func (s *sink) abort(tt *tableTx) {
	if tt.tx != nil {
		tt.tx.Rollback()
		tt.tx = nil
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Flush commits every table's open transaction.
func (s *sink) Flush(ctx context.Context) error {
	for _, name := range s.order {
		if err := s.commitTable(ctx, name); err != nil {
			return fmt.Errorf("table %q: %w", name, err)
		}
	}
	return nil
}

// commitTable commits one table's transaction; a commit lost to a transient
// error is retried by replaying the rows (upserts make that idempotent).
func (s *sink) commitTable(ctx context.Context, name string) error {
	tt := s.txs[name]
	if tt == nil || (tt.tx == nil && len(tt.pending) == 0) {
		return nil
	}
	backoff := s.cfg.backoff
	for attempt := 0; ; attempt++ {
		_, err := s.inTx(ctx, name, tt, nil, nil)
		if err == nil {
			err = tt.tx.Commit(ctx)
			tt.tx = nil
			if err == nil {
				tt.pending = nil
				return nil
			}
		}
		s.abort(tt)
		if !isTransient(err) || attempt >= s.cfg.retries {
			return classify(fmt.Errorf("commit: %w", err))
		}
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff *= 2
	}
}

// Close rolls back anything not flushed and disconnects.
func (s *sink) Close(ctx context.Context) error {
	for _, tt := range s.txs {
		s.abort(tt)
	}
	s.txs = map[string]*tableTx{}
	s.order = nil
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// execRows runs rows as batched statements: consecutive rows with the same
// column set and operation share statements. A statement refused for a data
// error is retried row by row, and only the refused rows fail.
func (s *sink) execRows(ctx context.Context, tx *txConn, m *tableMeta, rows []row, fail func(int, string, error)) ([][]row, error) {
	var written [][]row
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].sig() == rows[start].sig() {
			end++
		}
		var chunks [][]row
		if s.cfg.dialect == MySQL && s.cfg.mode == Update && !rows[start].del {
			for i := start; i < end; i++ {
				chunks = append(chunks, rows[i:i+1])
			}
		} else {
			chunks = s.chunk(rows[start:end])
		}
		for _, c := range chunks {
			ok, err := s.execChunk(ctx, tx, m, c, fail)
			if err != nil {
				return nil, err
			}
			written = append(written, ok)
		}
		start = end
	}
	return written, nil
}

func (s *sink) execChunk(ctx context.Context, tx *txConn, m *tableMeta, rows []row, fail func(int, string, error)) ([]row, error) {
	if s.tryCopy(m, &rows[0]) {
		err := s.savepoint(ctx, tx, "braid_copy", func() error { return s.bulkRows(ctx, tx, m, rows) })
		if err == nil {
			return rows, nil
		}
		if isTransient(err) || ctx.Err() != nil {
			return nil, err
		}
		// Keys already present (or a bad value): statements for a while.
		s.log.Debug("bulk load refused, upserting with statements", "table", m.name, "rows", len(rows), "error", err)
		s.bulkFallbacks++
		m.copySkip = copyBackoff
	}
	err := s.savepointExec(ctx, tx, "braid_batch", func() error { return s.exec(ctx, tx, m, rows) })
	if err == nil {
		return rows, nil
	}
	if isTransient(err) || ctx.Err() != nil {
		return nil, err
	}
	if len(rows) == 1 && !isDataError(err) && !errors.Is(err, errEncode) {
		return nil, err
	}
	ok := make([]row, 0, len(rows))
	for i := range rows {
		err := s.savepointExec(ctx, tx, "braid_row", func() error { return s.exec(ctx, tx, m, rows[i:i+1]) })
		switch {
		case err == nil:
			ok = append(ok, rows[i])
		case isDataError(err) || errors.Is(err, errEncode):
			fail(rows[i].idx, rows[i].where(), err)
		default:
			return nil, err
		}
	}
	return ok, nil
}

var errEncode = errors.New("cannot encode value")

// copyBackoff is how many chunks of a table skip the COPY attempt after one
// failed: a table that already holds the keys would make every COPY fail.
const copyBackoff = 16

// tryCopy reports whether a chunk should first be tried with the bulk path
// (COPY, LOAD DATA): for inserts and upserts, unless it failed recently. It
// succeeds only when none of the keys exists yet, where an upsert is an
// insert; otherwise the chunk is rolled back and upserted with a statement.
func (s *sink) tryCopy(m *tableMeta, r0 *row) bool {
	if r0.del || s.cfg.mode == Update || s.noCopy {
		return false
	}
	if m.copySkip > 0 {
		m.copySkip--
		return false
	}
	return true
}

func (s *sink) exec(ctx context.Context, tx *txConn, m *tableMeta, rows []row) error {
	q, args, err := s.statement(m, rows)
	if err != nil {
		return fmt.Errorf("%w: %v", errEncode, err)
	}
	_, err = tx.ExecContext(ctx, q, args...)
	return err
}

// savepointExec runs f inside a savepoint on PostgreSQL, where a failed
// statement would otherwise abort the whole transaction. MySQL rolls back
// just the failed statement by itself.
func (s *sink) savepointExec(ctx context.Context, tx *txConn, name string, f func() error) error {
	if s.cfg.dialect != Postgres {
		return f()
	}
	return s.savepoint(ctx, tx, name, f)
}

// savepoint runs f inside a savepoint on either database.
func (s *sink) savepoint(ctx context.Context, tx *txConn, name string, f func() error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	if err := f(); err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name)
	return err
}

// NeedsFields tells the worker to decode records ahead: every row is built
// from its fields.
func (s *sink) NeedsFields() {}

var _ sdk.FieldsSink = (*sink)(nil)
