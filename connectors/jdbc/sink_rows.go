package jdbc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

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
	where  string // the record's place in the log, for errors
}

// sig identifies rows that can share one statement.
func (r *row) sig() string {
	s := strings.Join(r.cols, "\x00")
	if r.del {
		return "D" + s
	}
	return "U" + s
}

// pkKey identifies the row's primary key within a statement.
func (r *row) pkKey() string {
	var b strings.Builder
	for _, k := range r.pk {
		for i, c := range r.cols {
			if c == k {
				fmt.Fprintf(&b, "%v\x00", r.vals[i])
			}
		}
	}
	return b.String()
}

// toRow converts a record; ok is false for a record to skip (a tombstone with
// deletes off).
func (s *sink) toRow(rec *sdk.Record, idx int) (r row, ok bool, err error) {
	r = row{idx: idx, where: rec.Where()}
	r.table = strings.ReplaceAll(s.cfg.tableFmt, "${topic}", rec.Topic)
	if err := s.cfg.dialect.CheckIdent(r.table); err != nil {
		return r, false, fmt.Errorf("table name: %w", err)
	}
	del := rec.IsTombstone()
	if del && !s.cfg.deletes {
		return r, false, nil
	}
	r.del = del
	var value map[string]any
	if !del {
		if value, err = rec.Structured(); err != nil {
			return r, false, err
		}
		if value == nil {
			return r, false, fmt.Errorf("record has no value")
		}
	} else if rec.Before != nil {
		value = rec.Before
	} else {
		value = rec.Fields
	}
	keyVals, err := s.keyValues(rec, value)
	if err != nil {
		return r, false, err
	}
	m := make(map[string]any, len(value)+len(keyVals))
	if !del {
		for k, v := range value {
			m[k] = v
		}
	}
	for k, v := range keyVals {
		m[k] = v
	}
	for k := range keyVals {
		r.pk = append(r.pk, k)
	}
	r.pk = s.orderPK(r.pk, rec.Schema)
	for k := range m {
		if err := s.cfg.dialect.CheckIdent(k); err != nil {
			return r, false, fmt.Errorf("column name: %w", err)
		}
		r.cols = append(r.cols, k)
	}
	sort.Strings(r.cols)
	r.vals = make([]any, len(r.cols))
	r.fields = make([]schema.Field, len(r.cols))
	for i, c := range r.cols {
		r.vals[i] = m[c]
		if f := rec.Schema.Field(c); f != nil {
			r.fields[i] = *f
		} else {
			r.fields[i] = inferField(c, m[c])
		}
	}
	return r, true, nil
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
func (s *sink) keyValues(rec *sdk.Record, value map[string]any) (map[string]any, error) {
	switch s.cfg.pkMode {
	case PKRecordKey:
		if len(rec.Key) == 0 {
			return nil, fmt.Errorf("pk.mode record_key: record has no key")
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(rec.Key))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || obj == nil {
			if len(s.cfg.pkFields) != 1 {
				return nil, fmt.Errorf("pk.mode record_key: key %q is not a JSON object, and pk.fields does not name exactly one column for it", truncate(rec.Key))
			}
			return map[string]any{s.cfg.pkFields[0]: string(rec.Key)}, nil
		}
		if len(s.cfg.pkFields) == 0 {
			return numbersToValues(obj), nil
		}
		out := make(map[string]any, len(s.cfg.pkFields))
		for _, f := range s.cfg.pkFields {
			v, ok := obj[f]
			if !ok || v == nil {
				return nil, fmt.Errorf("pk.mode record_key: key has no %q", f)
			}
			out[f] = v
		}
		return numbersToValues(out), nil
	case PKRecordValue:
		fields := s.cfg.pkFields
		if len(fields) == 0 && rec.Schema != nil {
			fields = rec.Schema.Key
		}
		if len(fields) == 0 {
			return nil, fmt.Errorf("pk.mode record_value: set pk.fields, or send records whose schema names a key")
		}
		out := make(map[string]any, len(fields))
		for _, f := range fields {
			v, ok := value[f]
			if !ok || v == nil {
				return nil, fmt.Errorf("pk.mode record_value: value has no %q", f)
			}
			out[f] = v
		}
		return out, nil
	}
	return nil, nil
}

// numbersToValues turns json.Number key members into int64 or float64, so
// they bind and infer like value fields.
func numbersToValues(m map[string]any) map[string]any {
	for k, v := range m {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				m[k] = i
			} else {
				m[k] = schema.Decimal(n)
			}
		}
	}
	return m
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
