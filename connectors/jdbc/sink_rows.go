package jdbc

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// row is one record turned into a table operation.
type row struct {
	idx    int    // index in the batch given to Write
	table  string // target table
	del    bool
	cols   []string // sorted column names (pk columns only for a delete)
	vals   []any    // aligned with cols
	fields []schema.Field
	pk     []string
	// the record's place in the log, for error messages
	topic     string
	partition int32
	offset    int64
}

// where names the row's record in errors, computed only when one happens.
func (r *row) where() string {
	rec := sdk.Record{Topic: r.topic, Partition: r.partition, Offset: r.offset}
	return rec.Where()
}

// sig identifies rows that can share one statement.
func (r *row) sig() string {
	s := strings.Join(r.cols, "\x00")
	if r.del {
		return "D" + s
	}
	return "U" + s
}

// pkKey identifies the row's primary key within a statement: the value
// itself for a single comparable column, else the values rendered as JSON.
func (r *row) pkKey() any {
	var b []byte
	for n, k := range r.pk {
		for i, c := range r.cols {
			if c != k {
				continue
			}
			if len(r.pk) == 1 {
				switch v := r.vals[i].(type) {
				case int64, int32, string, schema.Decimal, bool, float64, time.Time:
					return v
				}
			}
			if n > 0 {
				b = append(b, ',')
			}
			b, _ = appendJSON(b, r.vals[i])
		}
	}
	return string(b)
}

// kv is one primary-key column and its value.
type kv struct {
	name string
	v    any
}

// keyMap holds a record's key columns: a short slice, cheaper than a map.
type keyMap []kv

func (k keyMap) get(name string) (any, bool) {
	for _, x := range k {
		if x.name == name {
			return x.v, true
		}
	}
	return nil, false
}

// colCache remembers the column layout of the last record so a stream of
// records with one shape skips sorting, name checks and schema lookups.
type colCache struct {
	schema *schema.Schema
	table  string
	nvals  int
	cols   []string
	fields []schema.Field // nil when the layout has no schema
	pk     []string
}

// toRow converts a record; ok is false for a record to skip (a tombstone with
// deletes off).
func (s *sink) toRow(rec *sdk.Record, idx int) (r row, ok bool, err error) {
	r = row{idx: idx, topic: rec.Topic, partition: rec.Partition, offset: rec.Offset}
	if r.table, err = s.tableFor(rec); err != nil {
		return r, false, err
	}
	if err := s.cfg.dialect.CheckIdent(r.table); err != nil {
		return r, false, fmt.Errorf("table name: %w", err)
	}
	del := rec.IsTombstone()
	if del && !s.cfg.deletes {
		return r, false, nil
	}
	r.del = del
	if err := s.applyHeaderSchema(rec); err != nil {
		return r, false, err
	}
	var value map[string]any
	switch {
	case !del:
		if value, err = rec.Structured(); err != nil {
			return r, false, err
		}
		if value == nil {
			return r, false, fmt.Errorf("record has no value")
		}
	case rec.Before != nil:
		value = rec.Before
	default:
		value = rec.Fields
	}
	keyVals, err := s.keyValues(rec, value)
	if err != nil {
		return r, false, err
	}
	if del {
		value = nil
	}
	lookup := func(c string) (any, bool) {
		if v, ok := keyVals.get(c); ok {
			return v, true
		}
		v, ok := value[c]
		return v, ok
	}
	c := &s.cache
	if !s.cacheHit(rec, r.table, value, keyVals) {
		if err := s.layout(rec, r.table, value, keyVals); err != nil {
			return r, false, err
		}
	}
	r.cols, r.pk = c.cols, c.pk
	r.vals = make([]any, len(r.cols))
	for i, col := range r.cols {
		r.vals[i], _ = lookup(col)
	}
	r.fields = c.fields
	if r.fields == nil {
		r.fields = make([]schema.Field, len(r.cols))
		for i, col := range r.cols {
			r.fields[i] = inferField(col, r.vals[i])
		}
	}
	return r, true, nil
}

// The source headers table.name.format may name; the CDC sources set them.
const (
	headerSourceDB    = "braid.source.db"
	headerSourceTable = "braid.source.table"
)

// tableFor fills table.name.format for one record. The plain ${topic}
// default, the common case, costs nothing.
func (s *sink) tableFor(rec *sdk.Record) (string, error) {
	f := s.cfg.tableFmt
	if f == "${topic}" {
		return rec.Topic, nil
	}
	f = strings.ReplaceAll(f, "${topic}", rec.Topic)
	if !strings.Contains(f, "${source.") {
		return f, nil
	}
	for _, p := range [...]string{"db", "schema", "table"} {
		ph := "${source." + p + "}"
		if !strings.Contains(f, ph) {
			continue
		}
		v, err := sourceName(rec, p)
		if err != nil {
			return "", fmt.Errorf("table.name.format %q: %w", s.cfg.tableFmt, err)
		}
		f = strings.ReplaceAll(f, ph, v)
	}
	return f, nil
}

// sourceName reads a ${source.*} placeholder from the record's headers.
// postgres-cdc names its table schema.table and its database in
// braid.source.db; mysql-cdc names the table alone and its database, which
// MySQL also calls a schema, in braid.source.db. So source.table is the
// bare table name and source.schema the schema (PostgreSQL) or the
// database (MySQL).
func sourceName(rec *sdk.Record, part string) (string, error) {
	key := headerSourceTable
	if part == "db" {
		key = headerSourceDB
	}
	v, ok := rec.Headers.Get(key)
	if !ok || v == "" {
		return "", fmt.Errorf("${source.%s} needs the record header %s, which this record lacks (is its source a CDC connector?)", part, key)
	}
	switch part {
	case "db":
		return v, nil
	case "table":
		if i := strings.LastIndexByte(v, '.'); i >= 0 {
			return v[i+1:], nil
		}
		return v, nil
	}
	if sch, _, ok := strings.Cut(v, "."); ok {
		return sch, nil
	}
	return sourceName(rec, "db")
}

// cacheHit reports whether the record has exactly the cached layout.
func (s *sink) cacheHit(rec *sdk.Record, table string, value map[string]any, keyVals keyMap) bool {
	c := &s.cache
	if c.cols == nil || c.schema != rec.Schema || c.table != table || c.nvals != len(value) || len(c.pk) != len(keyVals) {
		return false
	}
	for _, k := range c.pk {
		if _, ok := keyVals.get(k); !ok {
			return false
		}
	}
	n := 0
	for _, col := range c.cols {
		if _, ok := value[col]; ok {
			n++
		} else if _, ok := keyVals.get(col); !ok {
			return false
		}
	}
	return n == len(value)
}

// layout computes and caches the sorted columns, key order and fields of a
// record shape, checking every name once.
func (s *sink) layout(rec *sdk.Record, table string, value map[string]any, keyVals keyMap) error {
	set := make(map[string]bool, len(value)+len(keyVals))
	for k := range value {
		set[k] = true
	}
	var pk []string
	for _, k := range keyVals {
		set[k.name] = true
		pk = append(pk, k.name)
	}
	cols := make([]string, 0, len(set))
	for k := range set {
		if err := s.cfg.dialect.CheckIdent(k); err != nil {
			return fmt.Errorf("column name: %w", err)
		}
		cols = append(cols, k)
	}
	sort.Strings(cols)
	var fields []schema.Field
	if rec.Schema != nil {
		fields = make([]schema.Field, len(cols))
		for i, col := range cols {
			if f := rec.Schema.Field(col); f != nil {
				fields[i] = *f
			} else {
				v, ok := keyVals.get(col)
				if !ok {
					v = value[col]
				}
				fields[i] = inferField(col, v)
			}
		}
	}
	s.cache = colCache{schema: rec.Schema, table: table, nvals: len(value), cols: cols, fields: fields, pk: s.orderPK(pk, rec.Schema)}
	return nil
}

// orderPK puts key columns in pk.fields or schema-key order.
func (s *sink) orderPK(pk []string, sch *schema.Schema) []string {
	order := s.cfg.pkFields
	if len(order) == 0 && sch != nil {
		order = sch.Key
	}
	rank := func(c string) int {
		for i, o := range order {
			if o == c {
				return i
			}
		}
		return len(order)
	}
	sort.SliceStable(pk, func(i, j int) bool {
		if ri, rj := rank(pk[i]), rank(pk[j]); ri != rj {
			return ri < rj
		}
		return pk[i] < pk[j]
	})
	return pk
}

// keyValues returns the primary-key columns and values of a record.
func (s *sink) keyValues(rec *sdk.Record, value map[string]any) (keyMap, error) {
	switch s.cfg.pkMode {
	case PKRecordKey:
		if len(rec.Key) == 0 {
			return nil, fmt.Errorf("pk.mode record_key: record has no key")
		}
		obj, err := parseKey(rec.Key, s.cache.pk)
		if err != nil {
			if len(s.cfg.pkFields) != 1 {
				return nil, fmt.Errorf("pk.mode record_key: key %q is not a JSON object, and pk.fields does not name exactly one column for it", truncate(rec.Key))
			}
			return keyMap{{s.cfg.pkFields[0], string(rec.Key)}}, nil
		}
		if len(s.cfg.pkFields) == 0 {
			return obj, nil
		}
		out := make(keyMap, 0, len(s.cfg.pkFields))
		for _, f := range s.cfg.pkFields {
			v, ok := obj.get(f)
			if !ok || v == nil {
				return nil, fmt.Errorf("pk.mode record_key: key has no %q", f)
			}
			out = append(out, kv{f, v})
		}
		return out, nil
	case PKRecordValue:
		fields := s.cfg.pkFields
		if len(fields) == 0 && rec.Schema != nil {
			fields = rec.Schema.Key
		}
		if len(fields) == 0 {
			return nil, fmt.Errorf("pk.mode record_value: set pk.fields, or send records whose schema names a key")
		}
		out := make(keyMap, 0, len(fields))
		for _, f := range fields {
			v, ok := value[f]
			if !ok || v == nil {
				return nil, fmt.Errorf("pk.mode record_value: value has no %q", f)
			}
			out = append(out, kv{f, v})
		}
		return out, nil
	}
	return nil, nil
}

// parseKey decodes a JSON object key; whole numbers become int64, other
// numbers schema.Decimal (exact), so they bind and infer like value fields.
// names are likely member names, reused to save allocations.
func parseKey(key []byte, names []string) (keyMap, error) {
	if len(key) == 0 || key[0] != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	if m, ok := parseFlatKey(key, names); ok {
		return m, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(key, &raw); err != nil {
		return nil, err
	}
	out := make(keyMap, 0, len(raw))
	for k, v := range raw {
		if len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				out = append(out, kv{k, n})
			} else {
				out = append(out, kv{k, schema.Decimal(v)})
			}
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, err
		}
		out = append(out, kv{k, x})
	}
	return out, nil
}

// parseFlatKey is parseKey's fast path for the keys sources emit: a flat
// object of plain strings and whole numbers, {"id":42,"region":"eu"}. It
// gives up (ok false) on anything else, which json then decodes.
func parseFlatKey(key []byte, names []string) (m keyMap, ok bool) {
	i := 1
	m = make(keyMap, 0, max(len(names), 1))
	str := func() (string, bool) {
		if i >= len(key) || key[i] != '"' {
			return "", false
		}
		j := i + 1
		for j < len(key) && key[j] != '"' {
			if key[j] == '\\' || key[j] < 0x20 {
				return "", false
			}
			j++
		}
		if j >= len(key) {
			return "", false
		}
		raw := key[i+1 : j]
		i = j + 1
		for _, n := range names {
			if n == string(raw) {
				return n, true
			}
		}
		return string(raw), true
	}
	for {
		name, ok := str()
		if !ok || i >= len(key) || key[i] != ':' {
			return nil, false
		}
		i++
		if i < len(key) && key[i] == '"' {
			v, ok := str()
			if !ok {
				return nil, false
			}
			m = append(m, kv{name, v})
		} else {
			j := i
			for j < len(key) && (key[j] == '-' || key[j] >= '0' && key[j] <= '9') {
				j++
			}
			n, err := strconv.ParseInt(string(key[i:j]), 10, 64)
			if err != nil {
				return nil, false
			}
			m = append(m, kv{name, n})
			i = j
		}
		if i >= len(key) {
			return nil, false
		}
		switch key[i] {
		case ',':
			i++
		case '}':
			return m, i == len(key)-1
		default:
			return nil, false
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
