// Package cdcbench is the MariaDB side of `braid bench cdc --dialect mysql`:
// a private server with the binlog on, the tables and changes the benchmark
// captures, and the baselines — go-mysql's BinlogStreamer reading the same
// binlog range with nothing after it, and a plain keyset-ordered scan of the
// snapshotted table. The Braid side (a worker with mysql-cdc into the log)
// runs in cmd/braid, which the connector may not import.
package cdcbench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	_ "github.com/go-sql-driver/mysql" // the driver of the origin

	"github.com/braidhq/braid/connectors/mysqlcdc/internal/mariadbtest"
)

// Origin is a private MariaDB server for the benchmark.
type Origin struct {
	srv *mariadbtest.Server
	db  *sql.DB
}

// Start starts the server, with a buffer pool that holds the tables.
func Start(ctx context.Context) (*Origin, error) {
	srv, err := mariadbtest.Start(77, "--innodb-buffer-pool-size=768M", "--innodb-log-file-size=256M", "--max-allowed-packet=64M")
	if err != nil {
		return nil, err
	}
	if err := srv.Exec("", "CREATE DATABASE bench"); err != nil {
		srv.Stop()
		return nil, err
	}
	db, err := sql.Open("mysql", srv.DSN("bench"))
	if err != nil {
		srv.Stop()
		return nil, err
	}
	return &Origin{srv: srv, db: db}, nil
}

// Stop stops the server and removes its files.
func (o *Origin) Stop() {
	o.db.Close()
	o.srv.Stop()
}

// DSN is the source's dsn.
func (o *Origin) DSN() string { return o.srv.DSN("") }

// Table is what the source captures: db.table.
func (o *Origin) Table(name string) string { return "bench." + name }

// Create creates a table of the benchmark's shape with rows rows.
func (o *Origin) Create(ctx context.Context, name string, rows int) error {
	if _, err := o.db.ExecContext(ctx, "CREATE TABLE "+name+" (id BIGINT PRIMARY KEY, v VARCHAR(64) NOT NULL, n INT NOT NULL, amount DECIMAL(12,2) NOT NULL, at DATETIME(6) NOT NULL)"); err != nil {
		return err
	}
	return o.insert(ctx, name, 1, rows)
}

const stmtRows = 2000

func (o *Origin) insert(ctx context.Context, name string, from, n int) error {
	var b strings.Builder
	for start := from; start < from+n; start += stmtRows {
		b.Reset()
		b.WriteString("INSERT INTO " + name + " VALUES ")
		for id := start; id < min(start+stmtRows, from+n); id++ {
			if id > start {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d,'value-%d',%d,%d.%02d,'2026-01-02 03:04:05.%06d')", id, id, id%1000, id, id%100, id%1000000)
		}
		if _, err := o.db.ExecContext(ctx, b.String()); err != nil {
			return fmt.Errorf("load %s: %w", name, err)
		}
	}
	return nil
}

// Position is the binlog end now, as a mysql-cdc position.
func (o *Origin) Position(ctx context.Context) ([]byte, error) {
	var file string
	var pos uint32
	rows, err := o.db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return nil, fmt.Errorf("SHOW MASTER STATUS is empty")
	}
	dest := make([]any, len(cols))
	dest[0], dest[1] = &file, &pos
	for i := 2; i < len(dest); i++ {
		dest[i] = new(sql.RawBytes)
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"v": 1, "file": file, "pos": pos})
}

// Changes writes exactly ops row changes to a table made by Create with
// ops/2 rows: ops/2 inserts, then ops/4 updates and ops/4 deletes, in
// statements of 2,000 rows, each its own transaction.
func (o *Origin) Changes(ctx context.Context, name string, ops int) error {
	inserts := ops / 2
	updates := (ops - inserts) / 2
	deletes := ops - inserts - updates
	base := ops/2 + 1 // Create made ids 1..ops/2
	if err := o.insert(ctx, name, base, inserts); err != nil {
		return err
	}
	for from := 1; from <= updates; from += stmtRows {
		to := min(from+stmtRows-1, updates)
		if _, err := o.db.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET n = n + 1, v = CONCAT(v, '+') WHERE id BETWEEN %d AND %d", name, from, to)); err != nil {
			return err
		}
	}
	for from := updates + 1; from <= updates+deletes; from += stmtRows {
		to := min(from+stmtRows-1, updates+deletes)
		if _, err := o.db.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE id BETWEEN %d AND %d", name, from, to)); err != nil {
			return err
		}
	}
	return nil
}

// InsertOne inserts one row (its own transaction) and returns when it is
// committed.
func (o *Origin) InsertOne(ctx context.Context, name string, id int64) error {
	_, err := o.db.ExecContext(ctx, "INSERT INTO "+name+" VALUES (?, 'paced', 1, 1.50, NOW(6))", id)
	return err
}

// RawStream reads the binlog from pos with go-mysql's BinlogStreamer, as
// mysql-cdc does (rows parsed, times as time.Time), until it has seen ops
// row images, and returns how long that took.
func (o *Origin) RawStream(ctx context.Context, pos []byte, ops int) (time.Duration, error) {
	var p struct {
		File string `json:"file"`
		Pos  uint32 `json:"pos"`
	}
	if err := json.Unmarshal(pos, &p); err != nil {
		return 0, err
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 9911, Flavor: "mariadb", Host: "127.0.0.1", Port: uint16(o.srv.Port), User: "root",
		ParseTime: true, TimestampStringLocation: time.UTC, DisableRetrySync: true,
		Logger: slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	start := time.Now()
	streamer, err := syncer.StartSync(mysql.Position{Name: p.File, Pos: p.Pos})
	if err != nil {
		return 0, err
	}
	seen := 0
	for seen < ops {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return 0, fmt.Errorf("raw binlog read after %d of %d rows: %w", seen, ops, err)
		}
		if e, ok := ev.Event.(*replication.RowsEvent); ok {
			switch ev.Header.EventType {
			case replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
				seen += len(e.Rows) / 2
			default:
				seen += len(e.Rows)
			}
		}
	}
	return time.Since(start), nil
}

// RawScan reads the whole table in primary-key order with one streaming
// SELECT, every value as bytes, and returns the rows and how long it took.
func (o *Origin) RawScan(ctx context.Context, name string) (int, time.Duration, error) {
	start := time.Now()
	rows, err := o.db.QueryContext(ctx, "SELECT id, v, n, amount, at FROM "+name+" ORDER BY id")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	vals := make([]sql.RawBytes, 5)
	dest := make([]any, 5)
	for i := range vals {
		dest[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, 0, err
		}
		n++
	}
	return n, time.Since(start), rows.Err()
}
