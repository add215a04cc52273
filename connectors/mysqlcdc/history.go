package mysqlcdc

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/braidhq/braid/connectors/sdk"
)

// history is the schema history of the captured tables: what a TABLE_MAP
// cannot say about them (which MariaDB LONGTEXT columns are JSON) and how
// many DDL statements changed each, as of one binlog position. It travels
// inside every position, so a restart replays old binlog with the facts
// valid there, not with today's catalogue.
//
// A captured table without an entry has no JSON columns and version 0;
// "captured" means by the patterns In/Ex recorded with it, so a table the
// configuration adds later is read from the catalogue once.
type history struct {
	Tables map[string]*tableHist `json:"t,omitempty"` // db.table
	In     []string              `json:"in,omitempty"`
	Ex     []string              `json:"ex,omitempty"`

	enc []byte // the encoding, nil after a change
}

// tableHist is one captured table's entry.
type tableHist struct {
	V    int      `json:"v,omitempty"`  // schema version: DDL statements that changed it
	At   string   `json:"at,omitempty"` // binlog file:pos of the last of them
	JSON []string `json:"j,omitempty"`  // JSON columns, lower case, sorted
	// Unknown: a statement changed the table in a way the history cannot
	// follow (CREATE ... SELECT, a skipped unparsable DDL, a rename from an
	// uncaptured table): the catalogue says what is JSON at the next TABLE_MAP.
	Unknown bool `json:"u,omitempty"`
}

// maxHistoryBytes bounds the history a position carries. Beyond it the
// positions carry none and a restart reads the catalogue (with a warning).
const maxHistoryBytes = 32 << 10

// MarshalJSON encodes once per change: every record's position has it.
func (h *history) MarshalJSON() ([]byte, error) {
	if h.enc == nil {
		type plain history
		b, err := json.Marshal((*plain)(h))
		if err != nil {
			return nil, err
		}
		h.enc = b
	}
	return h.enc, nil
}

func (h *history) changed() { h.enc = nil }

func (h *history) patterns() config { return config{include: h.In, exclude: h.Ex} }

// json returns the JSON columns of db.table, or known false when the
// catalogue has to say.
func (h *history) json(key string, db, name string) (cols []string, known bool) {
	if e, ok := h.Tables[key]; ok {
		return e.JSON, !e.Unknown
	}
	return nil, h.patterns().captures(db, name)
}

// openHistory returns the history a stream starting at a position with
// stored (nil: none, a fresh start or a snapshot) continues: stored, or the
// catalogue's facts.
func (s *source) openHistory(ctx context.Context, stored *history) (*history, error) {
	h := stored
	if h == nil {
		h = &history{}
	}
	if h.Tables == nil {
		h.Tables = map[string]*tableHist{}
	}
	old := h.patterns()
	fresh := stored == nil
	if !fresh && slices.Equal(h.In, s.cfg.include) && slices.Equal(h.Ex, s.cfg.exclude) {
		return h, nil
	}
	for k := range h.Tables {
		db, name, _ := strings.Cut(k, ".")
		if !s.cfg.captures(db, name) {
			delete(h.Tables, k)
		}
	}
	if s.flavor == "mariadb" {
		cat, err := catalogueJSON(ctx, s.db, s.cfg)
		if err != nil {
			return nil, err
		}
		for k, cols := range cat {
			db, name, _ := strings.Cut(k, ".")
			if _, ok := h.Tables[k]; !ok && (fresh || !old.captures(db, name)) {
				h.Tables[k] = &tableHist{JSON: cols}
			}
		}
	}
	h.In, h.Ex = s.cfg.include, s.cfg.exclude
	h.changed()
	return h, nil
}

// catalogueJSON reads the JSON columns of every captured MariaDB table.
func catalogueJSON(ctx context.Context, db *sql.DB, cfg config) (map[string][]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "+
		"WHERE CONSTRAINT_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')")
	if err != nil {
		return nil, fmt.Errorf("JSON columns: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var schemaName, name, clause string
		if err := rows.Scan(&schemaName, &name, &clause); err != nil {
			return nil, err
		}
		if !cfg.captures(schemaName, name) {
			continue
		}
		if g := jsonCheck.FindStringSubmatch(strings.TrimSpace(clause)); g != nil {
			k := schemaName + "." + name
			out[k] = addCol(out[k], strings.ReplaceAll(g[1], "``", "`"))
		}
	}
	return out, rows.Err()
}

// addCol and dropCol keep a sorted set of lower-case column names.
func addCol(cols []string, c string) []string {
	c = strings.ToLower(c)
	i, ok := slices.BinarySearch(cols, c)
	if ok {
		return cols
	}
	return slices.Insert(cols, i, c)
}

func dropCol(cols []string, c string) []string {
	i, ok := slices.BinarySearch(cols, strings.ToLower(c))
	if !ok {
		return cols
	}
	return slices.Delete(slices.Clone(cols), i, i+1)
}

func hasCol(cols []string, c string) bool {
	_, ok := slices.BinarySearch(cols, strings.ToLower(c))
	return ok
}

// jsonColumns returns which of tm's columns are JSON on MariaDB, where JSON
// is LONGTEXT with a json_valid CHECK: from the history, or once from the
// catalogue when it cannot say. MySQL's binlog has a JSON type of its own.
func (st *stream) jsonColumns(ctx context.Context, tm *replication.TableMapEvent) (map[string]bool, error) {
	if st.src.flavor != "mariadb" {
		return nil, nil
	}
	db, name := string(tm.Schema), string(tm.Table)
	k := db + "." + name
	cols, known := st.hist.json(k, db, name)
	if !known {
		m, err := mariadbJSONColumns(ctx, st.src.db, db, name)
		if err != nil {
			return nil, err
		}
		e := st.hist.Tables[k]
		if e == nil {
			e = &tableHist{}
			st.hist.Tables[k] = e
		}
		e.JSON, e.Unknown = nil, false
		for c := range m {
			e.JSON = addCol(e.JSON, c)
		}
		cols = e.JSON
		st.pinHistory()
	}
	out := map[string]bool{}
	for _, c := range tm.ColumnNameString() {
		if hasCol(cols, c) {
			out[c] = true
		}
	}
	return out, nil
}

// pinHistory puts the changed history into the positions from now on.
func (st *stream) pinHistory() {
	st.hist.changed()
	b, err := st.hist.MarshalJSON()
	if err != nil || len(b) > maxHistoryBytes {
		if !st.histTooBig {
			st.src.log.Warn("the schema history is too large for the position; a restart reads which columns are JSON from the catalogue",
				"bytes", len(b), "max", maxHistoryBytes)
		}
		st.histTooBig, st.commit.Sch = true, nil
		return
	}
	st.histTooBig, st.commit.Sch = false, st.hist
}

// ddl applies one QUERY event's DDL statement to the history. The rows after
// it come with TABLE_MAP events that carry the new columns; what the history
// adds is the JSON facts and the version.
func (st *stream) ddl(e *replication.QueryEvent, h *replication.EventHeader, q string) error {
	if !isDDL(q) {
		return nil
	}
	db := string(e.Schema)
	at := fmt.Sprintf("%s:%d", st.file, h.LogPos)
	where := at
	if st.txGTID != "" {
		where += " (GTID " + st.txGTID + ")"
	}
	st.src.log.Debug("DDL in binlog", "schema", db, "query", truncate(q, 200), "pos", where)
	ops, err := st.parser.parse(q, db, e.StatusVars)
	if err != nil {
		return st.unparsable(q, db, where, at, err)
	}
	changed := false
	moved := map[tableRef]*tableHist{} // renamed out of the captured set by this statement
	for _, op := range ops {
		if st.applyDDL(op, at, moved) {
			changed = true
		}
	}
	if changed {
		clear(st.tables) // the next TABLE_MAP of each table is read afresh
		st.pinHistory()
	}
	return nil
}

// applyDDL applies one table change; it reports whether the history changed.
func (st *stream) applyDDL(op ddlOp, at string, moved map[tableRef]*tableHist) bool {
	cfg, hist, log := st.src.cfg, st.hist, st.src.log
	captured := func(r tableRef) bool { return cfg.captures(r.db, r.name) }
	entry := func(r tableRef) *tableHist {
		e := hist.Tables[r.String()]
		if e == nil {
			e = &tableHist{}
			hist.Tables[r.String()] = e
		}
		return e
	}
	switch op.kind {
	case ddlCreate:
		if !captured(op.t) {
			return false
		}
		e := entry(op.t)
		e.V, e.At, e.JSON, e.Unknown = e.V+1, at, nil, op.unknown
		for _, c := range op.json {
			e.JSON = addCol(e.JSON, c)
		}
		if op.like != nil {
			cols, known := hist.json(op.like.String(), op.like.db, op.like.name)
			e.JSON, e.Unknown = slices.Clone(cols), !known || op.unknown
		}
		log.Info("captured table created", "table", op.t.String(), "version", e.V, "pos", at)
	case ddlAlter:
		if !captured(op.t) {
			return false
		}
		e := entry(op.t)
		e.V, e.At = e.V+1, at
		for _, ed := range op.edits {
			switch {
			case ed.from != "":
				if hasCol(e.JSON, ed.from) {
					e.JSON = addCol(dropCol(e.JSON, ed.from), ed.add)
				}
			default:
				if ed.drop != "" {
					e.JSON = dropCol(e.JSON, ed.drop)
				}
				if ed.add != "" {
					e.JSON = dropCol(e.JSON, ed.add)
					if ed.json {
						e.JSON = addCol(e.JSON, ed.add)
					}
				}
			}
		}
		e.Unknown = e.Unknown || op.unknown
		log.Info("captured table altered", "table", op.t.String(), "version", e.V, "pos", at)
	case ddlDrop:
		if !captured(op.t) {
			return false
		}
		delete(hist.Tables, op.t.String())
		log.Info("captured table dropped", "table", op.t.String(), "pos", at)
	case ddlDropDB:
		for k := range hist.Tables {
			if db, _, _ := strings.Cut(k, "."); db == op.t.db {
				delete(hist.Tables, k)
			}
		}
		return true
	case ddlRename:
		from, to := captured(op.t), captured(op.to)
		var old *tableHist
		switch {
		case from:
			cols, known := hist.json(op.t.String(), op.t.db, op.t.name)
			old = &tableHist{JSON: slices.Clone(cols), Unknown: !known}
			if e := hist.Tables[op.t.String()]; e != nil {
				old.V = e.V
			}
			delete(hist.Tables, op.t.String())
		case moved[op.t] != nil:
			old = moved[op.t]
		}
		delete(moved, op.t)
		if !to {
			if old != nil {
				moved[op.to] = old
				log.Info("captured table renamed out of the captured tables", "table", op.t.String(), "to", op.to.String(), "pos", at)
			}
			return from
		}
		e := entry(op.to)
		if old == nil {
			old = &tableHist{Unknown: true} // its facts were never kept
		}
		*e = tableHist{V: old.V + 1, At: at, JSON: old.JSON, Unknown: old.Unknown}
		log.Info("table renamed into the captured tables", "table", op.to.String(), "from", op.t.String(), "version", e.V, "pos", at)
	case ddlTruncate:
		if captured(op.t) {
			log.Warn("TRUNCATE of a captured table: the binlog has no rows for it, so no delete records go out; "+
				"delete the rows downstream too, or snapshot the table again", "table", op.t.String(), "pos", at)
		}
		return false
	}
	return true
}

// unparsable handles a DDL statement the parser rejects by the
// schema.unparsable.ddl policy. A statement whose head names no captured
// table (or is no table DDL) is logged and passed over.
func (st *stream) unparsable(q, db, where, at string, perr error) error {
	refs, table := guessTargets(q, db)
	if !table {
		st.src.log.Info("unparsable non-table DDL in binlog passed over", "query", truncate(q, 200), "pos", where, "error", perr)
		return nil
	}
	var hit []tableRef
	for _, r := range refs {
		if st.src.cfg.captures(r.db, r.name) {
			hit = append(hit, r)
		}
	}
	if len(refs) > 0 && len(hit) == 0 {
		st.src.log.Info("unparsable DDL of an uncaptured table passed over", "query", truncate(q, 200), "pos", where, "error", perr)
		return nil
	}
	what := "may change any captured table"
	if len(hit) > 0 {
		names := make([]string, len(hit))
		for i, r := range hit {
			names[i] = r.String()
		}
		what = "changes captured table " + strings.Join(names, ", ")
	}
	if st.src.cfg.unparsableDDL != ddlSkip {
		return sdk.Fatal(fmt.Errorf("%w at binlog %s %s: %q: %v; set schema.unparsable.ddl: skip to go on past it "+
			"(the columns still come from the binlog, which are JSON from the catalogue)", ErrUnparsableDDL, where, what, truncate(q, 200), perr))
	}
	st.src.log.Warn("unparsable DDL skipped (schema.unparsable.ddl: skip)", "query", truncate(q, 200), "pos", where, "tables", what, "error", perr)
	for _, r := range hit {
		e := st.hist.Tables[r.String()]
		if e == nil {
			e = &tableHist{}
			st.hist.Tables[r.String()] = e
		}
		e.V, e.At, e.Unknown = e.V+1, at, true
	}
	clear(st.tables)
	st.pinHistory()
	return nil
}
