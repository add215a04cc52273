// Package incsnaptest has what the CDC sources' incremental-snapshot tests
// share: a mirror that applies records as an upserting sink does, and
// reading helpers.
package incsnaptest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// Mirror is a table of id → v, as an upserting sink with deletes keeps it.
type Mirror map[string]string

// Rows is what database/sql's and pgx's rows both have.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// FromRows reads id and v (as text) into a mirror.
func FromRows(t *testing.T, rows Rows) Mirror {
	t.Helper()
	m := Mirror{}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		m[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// Apply applies records of a table with columns id and v.
func (m Mirror) Apply(recs []sdk.Record) {
	for _, r := range recs {
		switch r.Op {
		case sdk.OpSnapshot, sdk.OpCreate, sdk.OpUpdate:
			if r.Op == sdk.OpUpdate && r.Before["id"] != nil && fmt.Sprint(r.Before["id"]) != fmt.Sprint(r.Fields["id"]) {
				delete(m, fmt.Sprint(r.Before["id"]))
			}
			m[fmt.Sprint(r.Fields["id"])] = fmt.Sprint(r.Fields["v"])
		case sdk.OpDelete:
			delete(m, fmt.Sprint(r.Before["id"]))
		}
	}
}

// Diff describes how m differs from want ("" when equal), at most ten rows.
func (m Mirror) Diff(want Mirror) string {
	var d []string
	for k, v := range want {
		if g, ok := m[k]; !ok || g != v {
			d = append(d, fmt.Sprintf("%s: got %q want %q", k, g, v))
		}
	}
	for k := range m {
		if _, ok := want[k]; !ok {
			d = append(d, k+": not in the origin")
		}
	}
	sort.Strings(d)
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("… %d more", len(d)-10))
	}
	return strings.Join(d, "; ")
}

// ReadUntil reads, calling between after every Read, until done says so.
func ReadUntil(t *testing.T, s sdk.Source, between func(), done func() bool) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []sdk.Record
	for !done() {
		recs, err := s.Read(ctx)
		if err != nil && !errors.Is(err, sdk.ErrBackoff) {
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
		if between != nil {
			between()
		}
	}
	return out
}

// ReadQuiet reads until nothing arrived for d.
func ReadQuiet(t *testing.T, s sdk.Source, d time.Duration) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	last := time.Now()
	for time.Since(last) < d {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		got, err := s.Read(ctx)
		cancel()
		if err != nil && !errors.Is(err, sdk.ErrBackoff) {
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		if len(got) > 0 {
			last = time.Now()
		}
		out = append(out, got...)
	}
	return out
}

// SnapshotDone is true once the last table of p's progress is done.
func SnapshotDone(p func() sdk.Progress) func() bool {
	return func() bool {
		pr := p()
		return len(pr.Tables) > 0 && pr.Tables[len(pr.Tables)-1].State == "done"
	}
}

// Count counts the records of op.
func Count(recs []sdk.Record, op sdk.Operation) int {
	n := 0
	for _, r := range recs {
		if r.Op == op {
			n++
		}
	}
	return n
}
