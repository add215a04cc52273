package pgcdc

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/internal/cdcenv"
	"github.com/braidhq/braid/connectors/sdk"
)

// SnapshotMode says when the source reads the tables' existing rows.
type SnapshotMode string

// The snapshot modes.
const (
	SnapshotInitial     SnapshotMode = "initial"      // snapshot when there is no stored position, then stream
	SnapshotNever       SnapshotMode = "never"        // stream only
	SnapshotInitialOnly SnapshotMode = "initial_only" // snapshot, then end
	SnapshotWhenNeeded  SnapshotMode = "when_needed"  // also re-snapshot when the stored position's slot is gone
)

var spec = sdk.Spec{
	Name:    "postgres-cdc",
	Kind:    sdk.KindSource,
	Summary: "Streams every insert, update and delete of PostgreSQL tables, in commit order, through logical replication (pgoutput), after a chunked consistent snapshot.",
	Doc: "Records carry Op (snapshot, create, update, delete), Fields (the row after; unchanged TOASTed values are left out), " +
		"Before (the old row under REPLICA IDENTITY FULL, else the old key), as Key a JSON object of the primary key, a Schema " +
		"(also in the braid.schema header) and the headers braid.source.db, braid.source.table, braid.source.pos (LSN), " +
		"braid.source.ts (commit time) and braid.source.txid. The slot's confirmed position moves only past what the log acknowledged.",
	MaxTasks: 1,
	Fields: []sdk.Field{
		{Name: "dsn", Type: sdk.TypeString, Required: true, Secret: true,
			Doc:     "PostgreSQL URL or key=value string of a role with the REPLICATION attribute (or superuser) that may read the tables.",
			Example: "postgres://braid:secret@db:5432/shop"},
		{Name: "tables", Type: sdk.TypeList, Required: true, Check: checkPatterns,
			Doc:     "Tables to capture, as schema.table; * and ? are globs (public.*, sales.order_?). A name without a schema means public.",
			Example: "[public.orders, sales.*]"},
		{Name: "exclude.tables", Type: sdk.TypeList, Check: checkPatterns,
			Doc: "Tables matched by tables to leave out, same syntax."},
		{Name: "slot", Type: sdk.TypeString, Check: checkIdent,
			Doc: "Replication slot, created when missing. Default `braid_<pipeline>_<connector>` (lower case, other characters as _)."},
		{Name: "publication", Type: sdk.TypeString, Check: checkIdent,
			Doc: "Publication the slot streams, created when missing (with publication.autocreate). Default: the slot's name."},
		{Name: "publication.autocreate", Type: sdk.TypeBool, Default: true,
			Doc: "Create the publication FOR TABLE the matched tables when it is missing, and add matched tables it lacks. Off, the publication must exist."},
		{Name: "snapshot.mode", Type: sdk.TypeString, Default: string(SnapshotInitial),
			Enum: []string{string(SnapshotInitial), string(SnapshotNever), string(SnapshotInitialOnly), string(SnapshotWhenNeeded)},
			Doc: "initial: read the existing rows when there is no stored position, then stream; never: stream only; " +
				"initial_only: read the existing rows, then end; when_needed: as initial, and re-snapshot when the stored position's slot is gone."},
		{Name: "snapshot.chunk.size", Type: sdk.TypeInt, Default: int64(10000), Min: 1, Max: 1_000_000,
			Doc: "Rows per snapshot query (keyset pagination by primary key)."},
		{Name: "heartbeat.interval", Type: sdk.TypeDuration, Default: "10s", Min: "0s",
			Doc: "How often to write a pg_logical_emit_message so an idle slot's confirmed position moves and the server can recycle WAL, and to check the slot's retained WAL. 0 disables."},
		{Name: "slot.max.retained.bytes", Type: sdk.TypeInt, Default: int64(1 << 30), Min: 0,
			Doc: "Warn in the log (once per crossing) when the slot makes the server keep more WAL than this many bytes (pg_current_wal_lsn() minus its restart_lsn), checked each heartbeat; the figure is also the task's slot_retained_wal_bytes gauge in its status and in braid_connector_gauge. 0 disables the warning."},
		{Name: "slot.drop.on.delete", Type: sdk.TypeBool, Default: false,
			Doc: "Drop the replication slot when the connector is deleted (not when it is stopped or updated), so it retains no WAL. Off, the slot stays for a connector created again under the same name to resume from."},
		{Name: "topic", Type: sdk.TypeString, Placeholders: []string{"schema", "table"},
			Doc:     "Topic template; ${schema} and ${table} are replaced by the row's table. Empty publishes to the pipeline's topic.",
			Example: "cdc.${schema}.${table}"},
		cdcenv.Field,
	},
}

// Plugin returns the postgres-cdc source.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Spec: spec, NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return newSource(parseConfig(cfg, env), env), nil
	}}
}

type config struct {
	dsn         string
	tables      []string
	exclude     []string
	slot        string
	publication string
	autocreate  bool
	mode        SnapshotMode
	chunk       int
	heartbeat   time.Duration
	maxRetained int64
	dropSlot    bool
	topic       string
	envelope    string
}

func parseConfig(cfg sdk.Config, env sdk.Env) config {
	c := config{
		dsn: cfg.String("dsn"), tables: cfg.Strings("tables"), exclude: cfg.Strings("exclude.tables"),
		slot: cfg.String("slot"), publication: cfg.String("publication"), autocreate: cfg.Bool("publication.autocreate"),
		mode: SnapshotMode(cfg.String("snapshot.mode")), chunk: int(cfg.Int("snapshot.chunk.size")),
		heartbeat: cfg.Duration("heartbeat.interval"), maxRetained: cfg.Int("slot.max.retained.bytes"),
		topic: cfg.String("topic"), dropSlot: cfg.Bool("slot.drop.on.delete"), envelope: cfg.String("envelope"),
	}
	if c.slot == "" {
		c.slot = DefaultSlot(env.Pipeline, env.Connector)
	}
	if c.publication == "" {
		c.publication = c.slot
	}
	return c
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// DefaultSlot derives a slot name from the pipeline and connector names:
// slot names allow only lower-case letters, digits and _, at most 63 bytes.
func DefaultSlot(pipeline, connector string) string {
	if pipeline == "" {
		pipeline = "default"
	}
	s := nonIdent.ReplaceAllString(strings.ToLower("braid_"+pipeline+"_"+connector), "_")
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

var ident = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func checkIdent(v any) error {
	if s := v.(string); !ident.MatchString(s) {
		return fmt.Errorf("%q must be 1 to 63 lower-case letters, digits and _, not starting with a digit", s)
	}
	return nil
}

func checkPatterns(v any) error {
	for _, p := range v.([]string) {
		if p == "" || strings.Count(p, ".") > 1 {
			return fmt.Errorf("%q must be table or schema.table", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%q is not a valid glob: %v", p, err)
		}
	}
	return nil
}

// qualify adds the default schema to a pattern without one.
func qualify(p string) string {
	if !strings.Contains(p, ".") {
		return "public." + p
	}
	return p
}

// matches reports whether schema.table is selected by the config.
func (c config) matches(name string) bool {
	in := false
	for _, p := range c.tables {
		if ok, _ := path.Match(qualify(p), name); ok {
			in = true
			break
		}
	}
	for _, p := range c.exclude {
		if ok, _ := path.Match(qualify(p), name); ok {
			return false
		}
	}
	return in
}
