package pgcdc

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/jackc/pgx/v5"
)

// snapshot reads the tables in primary-key order, snapshot.chunk.size rows
// per query, inside one REPEATABLE READ transaction: the slot's exported
// snapshot when the slot was just created, else the current state (the
// stream then replays every change since the slot's confirmed position, so
// the result converges to the same state).
type snapshot struct {
	tx    pgx.Tx
	pos   snapPos
	left  []*table // tables not done, the first being read
	at    time.Time
	exact bool
}

func (s *source) startSnapshot(ctx context.Context, sp *snapPos, exported string) error {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return sdk.Retryable(fmt.Errorf("begin snapshot: %w", err))
	}
	if exported != "" {
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+exported+"'"); err != nil {
			_ = tx.Rollback(ctx)
			return sdk.Retryable(fmt.Errorf("import the slot's snapshot %s: %w", exported, err))
		}
	}
	if sp == nil {
		sp = &snapPos{}
	}
	sn := &snapshot{tx: tx, pos: *sp, at: time.Now(), exact: exported != ""}
	var total int64
	for _, t := range s.order {
		if slices.Contains(sp.Done, t.full) {
			continue
		}
		sn.left = append(sn.left, t)
		var est float64
		_ = tx.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", t.quoted).Scan(&est)
		total += int64(max(est, 0))
	}
	// Resume at the table being read; rows of one without a primary key
	// are found by ctid, which a new snapshot does not keep: start it over.
	for len(sn.left) > 0 && sp.Table != "" && sn.left[0].full != sp.Table {
		sn.left = sn.left[1:]
	}
	if len(sn.left) > 0 && len(sn.left[0].key) == 0 {
		sn.pos.Key = nil
	}
	s.snap = sn
	s.setProgress(func(p *sdk.Progress) { *p = sdk.Progress{Phase: "snapshot", Total: total} })
	s.log.Info("snapshot started", "tables", len(sn.left), "exported_snapshot", sn.exact, "resumed", sp.Table != "" || len(sp.Done) > 0)
	return nil
}

func (sn *snapshot) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sn.tx.Rollback(ctx)
}

func (s *source) finishSnapshot(ctx context.Context) error {
	err := s.snap.tx.Commit(ctx)
	s.snap = nil
	if err != nil {
		return sdk.Retryable(fmt.Errorf("end snapshot: %w", err))
	}
	s.log.Info("snapshot done")
	return nil
}

// next returns the next chunk of rows; nil when every table is read.
func (sn *snapshot) next(ctx context.Context, s *source) ([]sdk.Record, error) {
	for len(sn.left) > 0 {
		t := sn.left[0]
		if sn.pos.Table != t.full {
			sn.pos.Table, sn.pos.Key = t.full, nil
		}
		recs, err := sn.chunk(ctx, s, t)
		if err != nil {
			return nil, err
		}
		if len(recs) < s.cfg.chunk {
			sn.pos.Done = append(slices.Clip(sn.pos.Done), t.full)
			sn.pos.Table, sn.pos.Key = "", nil
			sn.left = sn.left[1:]
		}
		if len(recs) > 0 {
			s.setProgress(func(p *sdk.Progress) { p.Done += int64(len(recs)) })
			return recs, nil
		}
	}
	return nil, nil
}

func (sn *snapshot) chunk(ctx context.Context, s *source, t *table) ([]sdk.Record, error) {
	rows, err := selectChunk(ctx, sn.tx, t, sn.pos.Key, s.cfg.chunk)
	if err != nil {
		return nil, err
	}
	recs := make([]sdk.Record, 0, len(rows))
	at := tsText(sn.at)
	for _, r := range rows {
		sn.pos.Key = r.key
		p := position{Snap: &snapPos{Start: sn.pos.Start, Done: sn.pos.Done, Table: t.full, Key: sn.pos.Key}, Inc: s.inc.position()}
		recs = append(recs, sdk.Record{
			Topic: t.topic, Key: keyJSON(t, r.fields), Fields: r.fields, Schema: t.sch, Op: sdk.OpSnapshot,
			Timestamp: sn.at, Position: p.bytes(), Headers: s.baseHeaders(t, sn.pos.Start, at),
		})
	}
	return recs, nil
}

// chunkRow is a row a chunk read and its key as text (the next chunk
// starts after it).
type chunkRow struct {
	fields map[string]any
	key    []string
}

// querier is a transaction or the pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// selectChunk reads up to limit rows of t in primary-key order (ctid order
// without a key) after the key after.
func selectChunk(ctx context.Context, q querier, t *table, after []string, limit int) ([]chunkRow, error) {
	sel := make([]string, len(t.cols))
	for i, c := range t.cols {
		// Aliased, so ORDER BY sees the columns, not their text.
		sel[i] = "r." + quoteIdent(c.name) + "::text AS c" + strconv.Itoa(i)
	}
	var keyExprs, casts []string
	if len(t.key) == 0 {
		keyExprs, casts = []string{"r.ctid"}, []string{"tid"}
		sel = append(sel, "r.ctid::text AS tid")
	}
	for _, k := range t.key {
		keyExprs = append(keyExprs, "r."+quoteIdent(t.cols[k].name))
		casts = append(casts, t.cols[k].typ)
	}
	query := "SELECT " + strings.Join(sel, ", ") + " FROM " + t.quoted + " AS r"
	var args []any
	if after != nil {
		ph := make([]string, len(after))
		for i, v := range after {
			args = append(args, v)
			ph[i] = "$" + strconv.Itoa(i+1) + "::text::" + casts[i]
		}
		query += " WHERE (" + strings.Join(keyExprs, ", ") + ") > (" + strings.Join(ph, ", ") + ")"
	}
	query += " ORDER BY " + strings.Join(keyExprs, ", ") + " LIMIT " + strconv.Itoa(limit)
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("snapshot of %s: %w", t.full, err))
	}
	defer rows.Close()
	vals := make([]*string, len(sel))
	ptrs := make([]any, len(sel))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []chunkRow
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]any, len(t.cols))
		for i := range t.cols {
			if vals[i] == nil {
				row[t.cols[i].name] = nil
				continue
			}
			v, err := decodeText(&t.cols[i], *vals[i])
			if err != nil {
				return nil, sdk.Fatal(fmt.Errorf("snapshot of %s: %w", t.full, err))
			}
			row[t.cols[i].name] = v
		}
		var key []string
		if len(t.key) == 0 {
			key = []string{*vals[len(t.cols)]}
		} else {
			key = make([]string, len(t.key))
			for i, k := range t.key {
				key[i] = *vals[k]
			}
		}
		out = append(out, chunkRow{fields: row, key: key})
	}
	if err := rows.Err(); err != nil {
		return nil, sdk.Retryable(fmt.Errorf("snapshot of %s: %w", t.full, err))
	}
	return out, nil
}
