package mysqlcdc

import (
	"fmt"
	"hash/fnv"
	"path"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/internal/cdcenv"
	"github.com/braidhq/braid/connectors/sdk"
)

// SnapshotMode says when the source reads the tables in full.
type SnapshotMode string

// The snapshot modes.
const (
	SnapshotInitial     SnapshotMode = "initial"      // snapshot when there is no position, then stream
	SnapshotNever       SnapshotMode = "never"        // stream from the current binlog end
	SnapshotInitialOnly SnapshotMode = "initial_only" // snapshot, then end
	SnapshotWhenNeeded  SnapshotMode = "when_needed"  // like initial, and again when the position was purged
)

var spec = sdk.Spec{
	Name:    "mysql-cdc",
	Kind:    sdk.KindSource,
	Summary: "Streams every insert, update and delete of MySQL/MariaDB tables from the binlog, after a chunked snapshot.",
	Doc: "Reads the row-based binlog as a replica (go-mysql's replication protocol, no canal, no mysqldump) and emits one record per row change: " +
		"Op create/update/delete (snapshot for rows read by the snapshot), Fields the row after, Before the row before an update or delete, " +
		"Key a JSON object of the primary-key columns, the schema in the braid.schema header, and headers braid.source.db, braid.source.table, " +
		"braid.source.pos, braid.source.ts and braid.source.txid. The position is the end of the last published transaction, so a restart " +
		"loses nothing and repeats nothing. The server needs log_bin, binlog_format=ROW, binlog_row_image=FULL and binlog_row_metadata=FULL.",
	MaxTasks: 1,
	Fields: []sdk.Field{
		{Name: "dsn", Type: sdk.TypeString, Required: true, Secret: true,
			Doc:     "Server to read, as a go-sql-driver/mysql DSN; the user needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT. The database part is ignored.",
			Example: "cdc:secret@tcp(127.0.0.1:3306)/"},
		{Name: "tables", Type: sdk.TypeList, Required: true, Check: checkPatterns,
			Doc:     "Tables to capture as db.table; each part may be a glob (shop.*, *.orders_?)",
			Example: "[shop.orders, shop.customer_*]"},
		{Name: "exclude.tables", Type: sdk.TypeList, Check: checkPatterns,
			Doc: "Tables matched by tables to leave out, as db.table globs."},
		{Name: "server.id", Type: sdk.TypeInt, Default: int64(0), Min: 0, Max: int64(1<<32 - 1),
			Doc: "Replica server id; must differ from the server's and every other replica's. 0 derives one from the pipeline and connector names in 1073741824..2147483647."},
		{Name: "snapshot.mode", Type: sdk.TypeString, Default: string(SnapshotInitial),
			Enum: []string{string(SnapshotInitial), string(SnapshotNever), string(SnapshotInitialOnly), string(SnapshotWhenNeeded)},
			Doc: "initial reads the tables in full when there is no stored position, then streams; never streams from the binlog's end; " +
				"initial_only snapshots and ends; when_needed is initial and also snapshots again when the stored position was purged from the binlog."},
		{Name: "snapshot.chunk.size", Type: sdk.TypeInt, Default: int64(5000), Min: 1, Max: int64(1000000),
			Doc: "Rows per snapshot query (keyset pagination on the primary key); progress is stored per row, so a restart continues after the last published row."},
		{Name: "heartbeat.interval", Type: sdk.TypeDuration, Default: "10s", Min: "100ms",
			Doc: "How often the server sends a heartbeat on an idle binlog connection, so a dead connection is noticed."},
		{Name: "batch.max.rows", Type: sdk.TypeInt, Default: int64(1000), Min: 1, Max: int64(100000),
			Doc: "Most records one Read returns."},
		{Name: "heartbeat.topic", Type: sdk.TypeString, Check: checkHeartbeatTopic,
			Doc: "Topic of heartbeat records: when the binlog moves (other tables are written) but no captured change went out for heartbeat.interval, " +
				"one small record {ts_ms, pos} carrying the current position goes here, so the stored position follows the binlog and a restart " +
				"or a binlog purge does not fall behind. Default: the source's topic followed by -heartbeat; \"-\" turns heartbeat records off."},
		{Name: "schema.unparsable.ddl", Type: sdk.TypeString, Default: ddlFail, Enum: []string{ddlFail, ddlSkip},
			Doc: "What a DDL statement in the binlog that the SQL parser rejects does when it changes, or may change, a captured table: " +
				"fail stops the task with an error naming the statement and its binlog position; skip logs a warning and goes on, and which " +
				"of the table's columns are JSON is then read from the catalogue. DDL of other tables never fails."},
		cdcenv.Field,
	},
}

// The schema.unparsable.ddl policies.
const (
	ddlFail = "fail"
	ddlSkip = "skip"
)

// Plugin returns the mysql-cdc source.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Spec: spec, NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return newSource(parseConfig(cfg, env), env), nil
	}}
}

func checkHeartbeatTopic(v any) error {
	if s := v.(string); s != "" && s != "-" && !sdk.ValidName(s) {
		return fmt.Errorf("%s must be %s, or - for none", sdk.ShowName(s), sdk.NameRule)
	}
	return nil
}

func checkPatterns(v any) error {
	for _, p := range v.([]string) {
		db, tbl, ok := strings.Cut(p, ".")
		if !ok || db == "" || tbl == "" {
			return fmt.Errorf("%q is not db.table", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%q: %w", p, err)
		}
	}
	return nil
}

type config struct {
	dsn       string
	include   []string
	exclude   []string
	serverID  uint32
	mode      SnapshotMode
	chunk     int
	heartbeat time.Duration
	batch     int
	envelope  string
	// heartbeatTopic receives heartbeat records; empty: none.
	heartbeatTopic string
	unparsableDDL  string // ddlFail or ddlSkip
}

func parseConfig(cfg sdk.Config, env sdk.Env) config {
	c := config{
		dsn: cfg.String("dsn"), include: cfg.Strings("tables"), exclude: cfg.Strings("exclude.tables"),
		serverID: uint32(cfg.Int("server.id")), mode: SnapshotMode(cfg.String("snapshot.mode")),
		chunk: int(cfg.Int("snapshot.chunk.size")), heartbeat: cfg.Duration("heartbeat.interval"),
		batch: int(cfg.Int("batch.max.rows")), envelope: cfg.String("envelope"),
		unparsableDDL: cfg.String("schema.unparsable.ddl"),
	}
	if c.serverID == 0 {
		c.serverID = deriveServerID(env.Pipeline, env.Connector)
	}
	switch ht := cfg.String("heartbeat.topic"); ht {
	case "-":
	case "":
		if env.Topic != "" && sdk.ValidName(env.Topic+"-heartbeat") {
			c.heartbeatTopic = env.Topic + "-heartbeat"
		}
	default:
		c.heartbeatTopic = ht
	}
	return c
}

// deriveServerID maps a connector to a stable id in [2^30, 2^31), far from
// the small ids people give their servers by hand.
func deriveServerID(pipeline, connector string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(pipeline + "\x00" + connector))
	return 1<<30 + h.Sum32()%(1<<30)
}

// captures reports whether db.table is selected by the configuration.
func (c config) captures(db, table string) bool {
	name := db + "." + table
	return matchAny(c.include, name) && !matchAny(c.exclude, name)
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
