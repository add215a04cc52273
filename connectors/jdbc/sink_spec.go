package jdbc

import (
	"errors"
	"fmt"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// InsertMode is how the sink writes a record that is not a delete.
type InsertMode string

// The insert modes.
const (
	InsertPlain InsertMode = "insert"
	Upsert      InsertMode = "upsert"
	Update      InsertMode = "update"
)

// PKMode is where the sink finds a record's primary-key values.
type PKMode string

// The primary-key modes.
const (
	PKNone        PKMode = "none"
	PKRecordKey   PKMode = "record_key"
	PKRecordValue PKMode = "record_value"
)

var sinkSpec = sdk.Spec{
	Name:    "jdbc-sink",
	Kind:    sdk.KindSink,
	Summary: "Writes records into MySQL/MariaDB or PostgreSQL tables as batched inserts, upserts, updates and deletes.",
	Doc: "Write runs each batch as large multi-row statements inside one open transaction per table; Flush commits them. " +
		"Inserts and upserts of keys not yet in the table go through the database's bulk loader (COPY, LOAD DATA LOCAL) inside a savepoint, " +
		"falling back to statements when a key exists. " +
		"A record whose values the database refuses is retried alone (inside a savepoint on PostgreSQL) and reported in an " +
		"sdk.BatchError so the worker dead-letters it while the others are written. Deadlocks and lost connections are retried " +
		"by replaying the uncommitted records in a new transaction.",
	Fields: []sdk.Field{
		{Name: "dsn", Type: sdk.TypeString, Required: true, Secret: true,
			Doc:     "Database to write: a go-sql-driver/mysql DSN or a PostgreSQL URL.",
			Example: "postgres://app:secret@127.0.0.1:5432/warehouse"},
		dialectField,
		{Name: "insert.mode", Type: sdk.TypeString, Default: string(Upsert),
			Enum: []string{string(InsertPlain), string(Upsert), string(Update)},
			Doc: "insert fails on an existing key; upsert inserts or replaces by key (MySQL ON DUPLICATE KEY UPDATE, " +
				"PostgreSQL ON CONFLICT DO UPDATE), so replays are idempotent; update only changes existing rows."},
		{Name: "delete.enabled", Type: sdk.TypeBool, Default: false,
			Doc: "Delete the row of a tombstone (key without value) or an Op delete record; needs a pk.mode other than none. Off, such records are skipped."},
		{Name: "pk.mode", Type: sdk.TypeString, Default: string(PKRecordKey),
			Enum: []string{string(PKNone), string(PKRecordKey), string(PKRecordValue)},
			Doc: "record_key takes the key columns from the record key (a JSON object, or a plain value for a single pk.fields column); " +
				"record_value takes them from the value's pk.fields (default: the record schema's key); none writes without a key (insert only)."},
		{Name: "pk.fields", Type: sdk.TypeList,
			Doc: "Primary-key column names. record_key: the members of the key object to use (default all); a non-object key needs exactly one. record_value: the value fields (default the schema's key)."},
		{Name: "auto.create", Type: sdk.TypeBool, Default: false,
			Doc: "Create a missing table from the record schema (or from the value's Go types when there is none), with the primary key."},
		{Name: "auto.evolve", Type: sdk.TypeBool, Default: false,
			Doc: "Add a nullable column for each record field the table lacks (ALTER TABLE ADD COLUMN). Off, such records are rejected."},
		{Name: "table.name.format", Type: sdk.TypeString, Default: "${topic}", Placeholders: []string{"topic", "source.db", "source.schema", "source.table"}, Check: notEmpty,
			Doc: "Target table; ${topic} is replaced by the record's topic, and ${source.table}, ${source.schema} and ${source.db} by the table, schema and database a CDC source " +
				"named in the record's braid.source.table and braid.source.db headers, so one sink mirrors many tables from one topic " +
				"(mysql-cdc: schema = database; postgres-cdc: db is the database, schema the table's schema). A record lacking the header is rejected (dead-lettered). " +
				"The result is one identifier, quoted (a dot is part of the name)."},
		{Name: "batch.size", Type: sdk.TypeInt, Default: int64(4000), Min: 1,
			Doc: "Most rows per multi-row statement (statements are also cut at about 8 MiB)."},
		{Name: "max.retries", Type: sdk.TypeInt, Default: int64(3), Min: 0,
			Doc: "Retries of a transaction hit by a deadlock or a lost connection before the error goes to the worker."},
		{Name: "retry.backoff", Type: sdk.TypeDuration, Default: "200ms",
			Doc: "Wait before the first retry; doubles with each further retry."},
	},
	Check: checkSink,
}

func notEmpty(v any) error {
	if v.(string) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// SinkPlugin returns the jdbc-sink connector.
func SinkPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: sinkSpec, NewSink: func(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
		return newSink(cfg, env)
	}}
}

type sinkConfig struct {
	dsn        string
	dialect    Dialect
	mode       InsertMode
	deletes    bool
	pkMode     PKMode
	pkFields   []string
	autoCreate bool
	autoEvolve bool
	tableFmt   string
	batchSize  int
	retries    int
	backoff    time.Duration
}

// parseSinkConfig reads settings that Validate (and so checkSink) already
// accepted.
func parseSinkConfig(cfg sdk.Config) sinkConfig {
	c := sinkConfig{
		dsn: cfg.String("dsn"), mode: InsertMode(cfg.String("insert.mode")),
		deletes: cfg.Bool("delete.enabled"), pkMode: PKMode(cfg.String("pk.mode")),
		pkFields: cfg.Strings("pk.fields"), autoCreate: cfg.Bool("auto.create"),
		autoEvolve: cfg.Bool("auto.evolve"), tableFmt: cfg.String("table.name.format"),
		batchSize: int(cfg.Int("batch.size")), retries: int(cfg.Int("max.retries")),
		backoff: cfg.Duration("retry.backoff"),
	}
	c.dialect, _ = DetectDialect(cfg.String("dialect"), c.dsn)
	return c
}

// checkSink holds the sink's rules across settings; the spec runs it, so
// lint and the API report them before a task starts.
func checkSink(cfg sdk.Config) []sdk.FieldError {
	var errs []sdk.FieldError
	d, err := DetectDialect(cfg.String("dialect"), cfg.String("dsn"))
	if err != nil && cfg.Has("dsn") {
		errs = append(errs, sdk.FieldError{Field: "dialect", Message: err.Error()})
	}
	mode, pkMode := InsertMode(cfg.String("insert.mode")), PKMode(cfg.String("pk.mode"))
	if pkMode == PKNone && mode != InsertPlain {
		errs = append(errs, sdk.FieldError{Field: "pk.mode", Message: fmt.Sprintf("none cannot be used with insert.mode %s, which needs a key", mode)})
	}
	if pkMode == PKNone && cfg.Bool("delete.enabled") {
		errs = append(errs, sdk.FieldError{Field: "delete.enabled", Message: "deletes need a key; set pk.mode to record_key or record_value"})
	}
	for _, f := range cfg.Strings("pk.fields") {
		if err := d.CheckIdent(f); d != "" && err != nil {
			errs = append(errs, sdk.FieldError{Field: "pk.fields", Message: err.Error()})
		}
	}
	return errs
}
