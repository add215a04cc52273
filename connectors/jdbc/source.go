package jdbc

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// table is one relation the source reads: a table or the custom query.
type table struct {
	name      string // table name, or "query"
	from      string // quoted table or "(query) AS q"
	topic     string
	schema    *schema.Schema
	cols      string   // quoted select list
	key       []string // record key columns
	track     []string // keyset columns, in ORDER BY order; empty: OFFSET paging
	tsCol     string   // set in the timestamp modes
	unlimited bool     // timestamp mode without a tie-breaker reads whole windows
	hdr       string   // the schema as JSON, sent in the HeaderSchema header
	st        tableState
	due       time.Time
}

// tableState is one table's progress, stored in the position.
type tableState struct {
	Key  []any `json:"k,omitempty"` // tracking values of the last row read
	Off  int64 `json:"o,omitempty"` // rows read this pass when there is no keyset
	Pass int64 `json:"p,omitempty"` // completed bulk passes
	Done bool  `json:"d,omitempty"` // the first full read is complete
}

type position struct {
	V      int                   `json:"v"`
	Tables map[string]tableState `json:"t"`
}

type source struct {
	cfg    sourceConfig
	env    sdk.Env
	log    *slog.Logger
	db     *sql.DB
	tables []*table
	cur    int
	slab   slab
	open   *cursor // the query streaming the current table's rows
	// base is the context of open queries, which outlive a Read; Close
	// cancels it.
	base     context.Context
	stopBase context.CancelFunc

	mu       sync.Mutex
	progress sdk.Progress
}

func newSource(cfg sdk.Config, env sdk.Env) (*source, error) {
	c := parseSourceConfig(cfg)
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &source{cfg: c, env: env, log: log}, nil
}

// Open connects, discovers the tables and their schemas and restores the
// per-table progress stored in pos.
func (s *source) Open(ctx context.Context, pos sdk.Position) error {
	db, err := Open(ctx, s.cfg.dialect, s.cfg.dsn, s.log)
	if err != nil {
		return err
	}
	s.db = db
	s.base, s.stopBase = context.WithCancel(context.WithoutCancel(ctx))
	names := s.cfg.tables
	if s.cfg.pattern != "" {
		if names, err = listTables(ctx, db, s.cfg.dialect, s.cfg.pattern); err != nil {
			return err
		}
		if len(names) == 0 {
			s.log.Warn("table.pattern matches no table", "pattern", s.cfg.pattern)
		}
	}
	if s.cfg.query != "" {
		names = []string{"query"}
	}
	var saved position
	if len(pos) > 0 {
		dec := json.NewDecoder(bytes.NewReader(pos))
		dec.UseNumber()
		if err := dec.Decode(&saved); err != nil {
			return sdk.Fatal(fmt.Errorf("position %q is not a jdbc-source position: %w", pos, err))
		}
	}
	var total int64
	for _, name := range names {
		t, err := s.describeTable(ctx, name)
		if err != nil {
			return err
		}
		if st, ok := saved.Tables[name]; ok {
			if t.st, err = restoreState(t, st); err != nil {
				return sdk.Fatal(fmt.Errorf("position of table %q: %w", name, err))
			}
		}
		if !t.st.Done && s.cfg.query == "" {
			total += estimateRows(ctx, db, s.cfg.dialect, name)
		}
		s.tables = append(s.tables, t)
	}
	s.setProgress(func(p *sdk.Progress) { *p = sdk.Progress{Phase: s.phase(), Total: total} })
	return nil
}

func (s *source) describeTable(ctx context.Context, name string) (*table, error) {
	d := s.cfg.dialect
	t := &table{name: name, topic: strings.ReplaceAll(s.cfg.topic, "${table}", name)}
	var err error
	if s.cfg.query != "" {
		t.from = "(" + s.cfg.query + ") q"
		if t.schema, err = describe(ctx, s.db, t.from, name); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
	} else {
		t.from = d.Quote(name)
		if t.schema, err = describe(ctx, s.db, t.from, name); err != nil {
			return nil, err
		}
		if err := tableNullable(ctx, s.db, d, name, t.schema); err != nil {
			return nil, err
		}
		if t.key, err = primaryKey(ctx, s.db, d, name); err != nil {
			return nil, err
		}
	}
	if len(s.cfg.keyCols) > 0 {
		t.key = s.cfg.keyCols
	}
	for _, c := range append([]string{s.cfg.incCol, s.cfg.tsCol}, t.key...) {
		if c != "" && t.schema.Field(c) == nil {
			return nil, sdk.Fatal(fmt.Errorf("table %q has no column %q", name, c))
		}
	}
	t.schema.Key = t.key
	if t.hdr, err = schemaHeader(t.schema); err != nil {
		return nil, fmt.Errorf("table %q schema: %w", name, err)
	}
	names := make([]string, len(t.schema.Fields))
	for i, f := range t.schema.Fields {
		names[i] = f.Name
	}
	t.cols = strings.Join(d.quoteAll(names), ", ")
	switch s.cfg.mode {
	case ModeBulk:
		t.track = t.key
	case ModeIncrementing:
		t.track = []string{s.cfg.incCol}
	case ModeTimestamp:
		t.tsCol = s.cfg.tsCol
		t.track = []string{s.cfg.tsCol}
		for _, k := range t.key {
			if k != s.cfg.tsCol {
				t.track = append(t.track, k)
			}
		}
		t.unlimited = len(t.track) == 1
	case ModeTimestampIncrementing:
		t.tsCol = s.cfg.tsCol
		t.track = []string{s.cfg.tsCol, s.cfg.incCol}
	}
	return t, nil
}

// restoreState converts the JSON-decoded tracking values back to the Go
// types of their columns, so they bind as the right parameter types.
func restoreState(t *table, st tableState) (tableState, error) {
	if st.Key == nil {
		return st, nil
	}
	if len(st.Key) != len(t.track) {
		return st, fmt.Errorf("has %d tracking values, the mode tracks %d columns (%s)", len(st.Key), len(t.track), strings.Join(t.track, ", "))
	}
	for i, c := range t.track {
		v, err := fromJSON(t.schema.Field(c), st.Key[i])
		if err != nil {
			return st, fmt.Errorf("column %q: %w", c, err)
		}
		st.Key[i] = v
	}
	return st, nil
}

func fromJSON(f *schema.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case schema.Date, schema.Timestamp:
		str, _ := v.(string)
		return time.Parse(time.RFC3339Nano, str)
	case schema.Bytes:
		var b []byte
		raw, _ := json.Marshal(v)
		err := json.Unmarshal(raw, &b)
		return b, err
	case schema.Float32, schema.Float64:
		if n, ok := v.(json.Number); ok {
			return n.Float64()
		}
	case schema.DecimalT:
		return fmt.Sprint(v), nil
	}
	if n, ok := v.(json.Number); ok {
		return toInt64(n)
	}
	return v, nil
}

// maxIdleWait is the longest Read waits before answering sdk.ErrBackoff.
const maxIdleWait = 100 * time.Millisecond

// Read returns the next batch of rows of the next table that has any,
// polling every table that is due. It returns sdk.ErrBackoff when no table is
// due or the due ones had nothing new.
func (s *source) Read(ctx context.Context) ([]sdk.Record, error) {
	if len(s.tables) == 0 {
		if err := sleep(ctx, maxIdleWait); err != nil {
			return nil, err
		}
		return nil, sdk.ErrBackoff
	}
	polled := false
	for {
		i := s.nextDue()
		t := s.tables[i]
		if wait := time.Until(t.due); wait > 0 {
			if !polled {
				// Pace callers that ask again at once, without holding
				// the task for a whole poll.interval.
				if err := sleep(ctx, min(wait, maxIdleWait)); err != nil {
					return nil, err
				}
			}
			return nil, sdk.ErrBackoff
		}
		recs, err := s.fetch(ctx, t)
		if err != nil {
			return nil, err
		}
		polled = true
		s.cur = (i + 1) % len(s.tables)
		if len(recs) > 0 {
			return recs, nil
		}
	}
}

// nextDue picks the table whose query is still streaming, else the table
// polled soonest, starting the scan at cur so tables take turns.
func (s *source) nextDue() int {
	if s.open != nil {
		for i, t := range s.tables {
			if t == s.open.t {
				return i
			}
		}
	}
	best := s.cur
	for k := 1; k < len(s.tables); k++ {
		i := (s.cur + k) % len(s.tables)
		if s.tables[i].due.Before(s.tables[best].due) {
			best = i
		}
	}
	return best
}

func (s *source) Ack(ctx context.Context, pos sdk.Position) error { return nil }

func (s *source) Close(ctx context.Context) error {
	s.closeCursor()
	if s.stopBase != nil {
		s.stopBase()
	}
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// Schemas implements sdk.SchemaProvider; it is valid after Open.
func (s *source) Schemas(ctx context.Context) ([]sdk.SchemaInfo, error) {
	if s.db == nil {
		return nil, errors.New("jdbc-source: Schemas called before Open")
	}
	out := make([]sdk.SchemaInfo, len(s.tables))
	for i, t := range s.tables {
		topic := t.topic
		if topic == "" {
			topic = s.env.Topic
		}
		out[i] = sdk.SchemaInfo{Topic: topic, Schema: t.schema}
	}
	return out, nil
}

// Progress implements sdk.Snapshotter: rows read during the first full read
// of the tables, against the databases' row estimates.
func (s *source) Progress() sdk.Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress
}

func (s *source) setProgress(f func(p *sdk.Progress)) {
	s.mu.Lock()
	f(&s.progress)
	s.mu.Unlock()
}

func (s *source) phase() string {
	for _, t := range s.tables {
		if !t.st.Done {
			return "snapshot"
		}
	}
	if s.cfg.mode == ModeBulk {
		return "bulk"
	}
	return "streaming"
}
