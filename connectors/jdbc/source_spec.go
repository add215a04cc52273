package jdbc

import (
	"fmt"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// Mode is how the source finds new rows.
type Mode string

// The source modes.
const (
	ModeBulk                  Mode = "bulk"
	ModeIncrementing          Mode = "incrementing"
	ModeTimestamp             Mode = "timestamp"
	ModeTimestampIncrementing Mode = "timestamp+incrementing"
)

var dialectField = sdk.Field{Name: "dialect", Type: sdk.TypeString, Default: "auto",
	Enum: []string{"auto", "mysql", "postgres"},
	Doc:  "SQL dialect; auto detects PostgreSQL from a postgres:// URL (or key=value DSN) and MySQL/MariaDB otherwise."}

var sourceSpec = sdk.Spec{
	Name:    "jdbc-source",
	Kind:    sdk.KindSource,
	Summary: "Polls MySQL/MariaDB or PostgreSQL tables (or a query) and emits one structured record per row.",
	Doc: "Each poll runs `SELECT ... WHERE <tracking columns> > <last position> ORDER BY <tracking columns> LIMIT <50 × batch.max.rows>` " +
		"per table and streams it, batch.max.rows rows per Read. Records carry Fields, a Schema derived from the column types " +
		"(also sent as JSON in the braid.schema header, so a sink behind the json converter keeps exact types) and, as Key, a JSON object of the primary-key columns. " +
		"The position stores per-table progress, so a restarted task neither skips nor repeats rows.",
	Fields: []sdk.Field{
		{Name: "dsn", Type: sdk.TypeString, Required: true, Secret: true,
			Doc:     "Database to read: a go-sql-driver/mysql DSN or a PostgreSQL URL.",
			Example: "app:secret@tcp(127.0.0.1:3306)/shop"},
		dialectField,
		{Name: "mode", Type: sdk.TypeString, Default: string(ModeBulk),
			Enum: []string{string(ModeBulk), string(ModeIncrementing), string(ModeTimestamp), string(ModeTimestampIncrementing)},
			Doc: "bulk re-reads whole tables every poll.interval; incrementing reads rows whose incrementing.column grew; " +
				"timestamp reads rows whose timestamp.column moved (new and updated rows); timestamp+incrementing orders by (timestamp, id) so rows sharing a timestamp are neither skipped nor repeated."},
		{Name: "incrementing.column", Type: sdk.TypeString,
			Doc: "Strictly increasing, non-NULL column (usually an AUTO_INCREMENT/identity primary key); required by the incrementing modes."},
		{Name: "timestamp.column", Type: sdk.TypeString,
			Doc: "Column set when a row is inserted or updated; required by the timestamp modes. Rows where it is NULL are never read."},
		{Name: "timestamp.delay", Type: sdk.TypeDuration, Default: "0s",
			Doc: "Only read rows whose timestamp is older than now (Braid's clock, UTC) minus this delay, so transactions that commit late with an earlier timestamp are not missed; it also covers clock skew between Braid and the database."},
		{Name: "tables", Type: sdk.TypeList,
			Doc: "Tables to read, in the connection's database (MySQL) or current schema (PostgreSQL). Exactly one of tables, table.pattern and query is set."},
		{Name: "table.pattern", Type: sdk.TypeString,
			Doc: "Read every base table whose name matches: an SQL LIKE pattern (orders_%), or a Go regular expression when it starts with ^."},
		{Name: "query", Type: sdk.TypeString,
			Doc: "Custom SELECT to read instead of tables; the source wraps it as a subquery to add its WHERE/ORDER BY/LIMIT. Its name in topics and positions is \"query\"."},
		{Name: "key.columns", Type: sdk.TypeList,
			Doc: "Columns that form the record key, instead of the primary key (needed for query, or tables without a primary key)."},
		{Name: "poll.interval", Type: sdk.TypeDuration, Default: "5s", Min: "1ms",
			Doc: "How long to wait after a table is caught up before polling it again."},
		{Name: "batch.max.rows", Type: sdk.TypeInt, Default: int64(1000), Min: 1,
			Doc: "Most rows one Read emits; one query streams up to 50 times as many."},
		{Name: "topic", Type: sdk.TypeString,
			Doc:     "Topic template; ${table} is replaced by the table name. Empty publishes to the pipeline's topic; set, the worker publishes each record to its Record.Topic.",
			Example: "shop.${table}", Placeholders: []string{"table"}},
	},
	Check: checkSource,
}

// SourcePlugin returns the jdbc-source connector.
func SourcePlugin() sdk.Plugin {
	return sdk.Plugin{Spec: sourceSpec, NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return newSource(cfg, env)
	}}
}

type sourceConfig struct {
	dsn       string
	dialect   Dialect
	mode      Mode
	incCol    string
	tsCol     string
	tsDelay   time.Duration
	tables    []string
	pattern   string
	query     string
	keyCols   []string
	poll      time.Duration
	batchRows int
	topic     string
}

// parseSourceConfig reads settings that Validate (and so checkSource)
// already accepted.
func parseSourceConfig(cfg sdk.Config) sourceConfig {
	c := sourceConfig{
		dsn: cfg.String("dsn"), mode: Mode(cfg.String("mode")),
		incCol: cfg.String("incrementing.column"), tsCol: cfg.String("timestamp.column"),
		tsDelay: cfg.Duration("timestamp.delay"), tables: cfg.Strings("tables"),
		pattern: cfg.String("table.pattern"), query: strings.TrimSpace(cfg.String("query")),
		keyCols: cfg.Strings("key.columns"), poll: cfg.Duration("poll.interval"),
		batchRows: int(cfg.Int("batch.max.rows")), topic: cfg.String("topic"),
	}
	c.dialect, _ = DetectDialect(cfg.String("dialect"), c.dsn)
	return c
}

// checkSource holds the source's rules across settings; the spec runs it,
// so lint and the API report them before a task starts.
func checkSource(cfg sdk.Config) []sdk.FieldError {
	var errs []sdk.FieldError
	d, err := DetectDialect(cfg.String("dialect"), cfg.String("dsn"))
	if err != nil && cfg.Has("dsn") {
		errs = append(errs, sdk.FieldError{Field: "dialect", Message: err.Error()})
	}
	set := 0
	for _, ok := range []bool{len(cfg.Strings("tables")) > 0, cfg.String("table.pattern") != "", strings.TrimSpace(cfg.String("query")) != ""} {
		if ok {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, sdk.FieldError{Field: "tables", Message: "set exactly one of tables, table.pattern and query"})
	}
	mode := Mode(cfg.String("mode"))
	needInc := mode == ModeIncrementing || mode == ModeTimestampIncrementing
	needTS := mode == ModeTimestamp || mode == ModeTimestampIncrementing
	if needInc && cfg.String("incrementing.column") == "" {
		errs = append(errs, sdk.FieldError{Field: "incrementing.column", Message: fmt.Sprintf("required by mode %s", mode)})
	}
	if needTS && cfg.String("timestamp.column") == "" {
		errs = append(errs, sdk.FieldError{Field: "timestamp.column", Message: fmt.Sprintf("required by mode %s", mode)})
	}
	for _, t := range cfg.Strings("tables") {
		if err := d.CheckIdent(t); d != "" && err != nil {
			errs = append(errs, sdk.FieldError{Field: "tables", Message: err.Error()})
		}
	}
	return errs
}
