// Package cdcbench is the PostgreSQL side of `braid bench cdc --dialect
// postgres`: a private server with wal_level=logical, the tables and
// changes the benchmark captures, and the baselines — pglogrepl reading the
// same changes through a slot of its own with nothing after it, and a plain
// keyset-ordered scan of the snapshotted table. The Braid side (a worker
// with postgres-cdc into the log) runs in cmd/braid.
package cdcbench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/braidhq/braid/connectors/pgcdc/internal/pgtest"
)

// Origin is a private PostgreSQL server for the benchmark.
type Origin struct {
	srv *pgtest.Server
	db  *pgxpool.Pool
}

// Start starts the server. Commits wait for the WAL write (the tests'
// servers do not), else the walsender sees a commit only when the WAL
// writer wakes, every 200 ms, and that would be the latency measured.
func Start(ctx context.Context) (*Origin, error) {
	srv, err := pgtest.Start("synchronous_commit=on", "shared_buffers=256MB")
	if err != nil {
		return nil, err
	}
	db, err := pgxpool.New(ctx, srv.DSN("postgres"))
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return &Origin{srv: srv, db: db}, nil
}

// Stop stops the server and removes its files.
func (o *Origin) Stop() {
	o.db.Close()
	_ = o.srv.Stop()
}

// DSN is the source's dsn.
func (o *Origin) DSN() string { return o.srv.DSN("postgres") }

// Table is what the source captures: schema.table.
func (o *Origin) Table(name string) string { return "public." + name }

// Create creates a table of the benchmark's shape with rows rows.
func (o *Origin) Create(ctx context.Context, name string, rows int) error {
	if _, err := o.db.Exec(ctx, "CREATE TABLE "+name+" (id bigint PRIMARY KEY, v varchar(64) NOT NULL, n int NOT NULL, amount numeric(12,2) NOT NULL, at timestamp(6) NOT NULL)"); err != nil {
		return err
	}
	return o.insert(ctx, name, 1, rows)
}

const stmtRows = 2000

func (o *Origin) insert(ctx context.Context, name string, from, n int) error {
	for start := from; start < from+n; start += stmtRows {
		end := min(start+stmtRows, from+n) - 1
		q := fmt.Sprintf("INSERT INTO %s SELECT i, 'value-' || i, i %% 1000, i + (i %% 100) / 100.0, timestamp '2026-01-02 03:04:05' + (i %% 1000000) * interval '1 microsecond' FROM generate_series(%d, %d) i", name, start, end)
		if _, err := o.db.Exec(ctx, q); err != nil {
			return fmt.Errorf("load %s: %w", name, err)
		}
	}
	return nil
}

// Changes writes exactly ops row changes to a table made by Create with
// ops/2 rows: ops/2 inserts, then ops/4 updates and ops/4 deletes, in
// statements of 2,000 rows, each its own transaction.
func (o *Origin) Changes(ctx context.Context, name string, ops int) error {
	inserts := ops / 2
	updates := (ops - inserts) / 2
	deletes := ops - inserts - updates
	if err := o.insert(ctx, name, ops/2+1, inserts); err != nil {
		return err
	}
	for from := 1; from <= updates; from += stmtRows {
		to := min(from+stmtRows-1, updates)
		if _, err := o.db.Exec(ctx, fmt.Sprintf("UPDATE %s SET n = n + 1, v = v || '+' WHERE id BETWEEN %d AND %d", name, from, to)); err != nil {
			return err
		}
	}
	for from := updates + 1; from <= updates+deletes; from += stmtRows {
		to := min(from+stmtRows-1, updates+deletes)
		if _, err := o.db.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id BETWEEN %d AND %d", name, from, to)); err != nil {
			return err
		}
	}
	return nil
}

// InsertOne inserts one row (its own transaction) and returns when it is
// committed.
func (o *Origin) InsertOne(ctx context.Context, name string, id int64) error {
	_, err := o.db.Exec(ctx, "INSERT INTO "+name+" VALUES ($1, 'paced', 1, 1.50, now())", id)
	return err
}

// Position is nil: postgres-cdc resumes from its slot, which the benchmark
// creates (PrepareRaw, and the connector's own run) before the changes.
func (o *Origin) Position(context.Context) ([]byte, error) { return nil, nil }

// PrepareRaw creates the baseline's publication and slot for table, so it
// sees the changes written after it.
func (o *Origin) PrepareRaw(ctx context.Context, name string) error {
	if _, err := o.db.Exec(ctx, "CREATE PUBLICATION raw_bench FOR TABLE "+name); err != nil {
		return err
	}
	_, err := o.db.Exec(ctx, "SELECT pg_create_logical_replication_slot('raw_bench', 'pgoutput')")
	return err
}

// RawStream streams the baseline's slot with pglogrepl, decoding each
// pgoutput message as postgres-cdc does, until it has seen ops row changes,
// and returns how long that took.
func (o *Origin) RawStream(ctx context.Context, _ []byte, ops int) (time.Duration, error) {
	pc, err := pgconn.ParseConfig(o.srv.DSN("postgres"))
	if err != nil {
		return 0, err
	}
	pc.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	start := time.Now()
	err = pglogrepl.StartReplication(ctx, conn, "raw_bench", 0, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication, PluginArgs: []string{"proto_version '1'", "publication_names 'raw_bench'"}})
	if err != nil {
		return 0, err
	}
	seen := 0
	for seen < ops {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return 0, fmt.Errorf("raw stream after %d of %d changes: %w", seen, ops, err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		x, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return 0, err
		}
		m, err := pglogrepl.Parse(x.WALData)
		if err != nil {
			return 0, err
		}
		switch m.(type) {
		case *pglogrepl.InsertMessage, *pglogrepl.UpdateMessage, *pglogrepl.DeleteMessage:
			seen++
		}
	}
	return time.Since(start), nil
}

// RawScan reads the whole table in primary-key order with one query, every
// value as text, and returns the rows and how long it took.
func (o *Origin) RawScan(ctx context.Context, name string) (int, time.Duration, error) {
	start := time.Now()
	rows, err := o.db.Query(ctx, "SELECT id::text, v, n::text, amount::text, at::text FROM "+name+" ORDER BY id")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	n := 0
	var a, b, c, d, e string
	for rows.Next() {
		if err := rows.Scan(&a, &b, &c, &d, &e); err != nil {
			return 0, 0, err
		}
		n++
	}
	return n, time.Since(start), rows.Err()
}
