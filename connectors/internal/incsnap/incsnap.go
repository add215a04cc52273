// Package incsnap holds what the CDC sources share for incremental
// snapshots (sdk.IncrementalSnapshotter): the queue of requests the worker
// hands over, the expansion of a request's tables, the per-table progress,
// and the chunk that waits for its high watermark while streamed changes
// drop the rows they supersede (DBLog, Netflix, arXiv 2010.12597).
package incsnap

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/braidhq/braid/connectors/sdk"
)

// Queue holds the requests handed over and not yet taken up. Add is called
// from the worker's goroutine, Take from the one that reads.
type Queue struct {
	mu   sync.Mutex
	reqs []sdk.SnapshotRequest
}

// Add queues r unless a request with its ID is queued.
func (q *Queue) Add(r sdk.SnapshotRequest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if slices.ContainsFunc(q.reqs, func(o sdk.SnapshotRequest) bool { return o.ID == r.ID }) {
		return
	}
	q.reqs = append(q.reqs, r)
	slices.SortFunc(q.reqs, func(a, b sdk.SnapshotRequest) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

// Take removes and returns the queued requests in ID order.
func (q *Queue) Take() []sdk.SnapshotRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reqs
	q.reqs = nil
	return r
}

// AddChecked queues the requests whose every table passes check (which says
// what is wrong with a name, or ""; globs are not checked) and returns one
// error per refused request.
func (q *Queue) AddChecked(reqs []sdk.SnapshotRequest, check func(table string) string) error {
	var errs []error
	for _, r := range reqs {
		var bad []string
		for _, t := range r.Tables {
			if IsPattern(t) {
				continue
			}
			if why := check(t); why != "" {
				bad = append(bad, strconv.Quote(t)+" ("+why+")")
			}
		}
		if len(bad) > 0 {
			errs = append(errs, fmt.Errorf("snapshot request %d: %s", r.ID, strings.Join(bad, ", ")))
			continue
		}
		q.Add(r)
	}
	return errors.Join(errs...)
}

// TakeUp moves the queued requests above *req into *tables, expanded
// against the captured tables (captured is called only when there is a
// request to take up), calling queued for each table added and logging
// each request and each name that matches nothing.
func (q *Queue) TakeUp(req *uint64, tables *[]string, captured func() ([]string, error), queued func(string), log *slog.Logger) error {
	reqs := q.Take()
	for i, r := range reqs {
		if r.ID <= *req {
			continue
		}
		names, err := captured()
		if err != nil {
			q.Return(reqs[i:])
			return err
		}
		pick, unmatched := Pick(r, names)
		for _, p := range unmatched {
			log.Warn("incremental snapshot: no captured table matches", "request", r.ID, "table", p)
		}
		*req = r.ID
		for _, n := range pick {
			if !slices.Contains(*tables, n) {
				*tables = append(*tables, n)
				queued(n)
			}
		}
		log.Info("incremental snapshot taken up", "request", r.ID, "tables", strings.Join(pick, ","))
	}
	return nil
}

// Return puts requests back that could not be taken up yet.
func (q *Queue) Return(rs []sdk.SnapshotRequest) {
	for _, r := range rs {
		q.Add(r)
	}
}

// IsPattern reports whether a requested table name is a glob.
func IsPattern(name string) bool {
	for _, c := range name {
		if c == '*' || c == '?' || c == '[' {
			return true
		}
	}
	return false
}

// Pick returns the captured tables (in their order) a request names, every
// one when it names none, and the names or globs that match nothing.
func Pick(r sdk.SnapshotRequest, captured []string) (pick, unmatched []string) {
	match := func(p, n string) bool { ok, _ := path.Match(p, n); return ok }
	for _, n := range captured {
		if len(r.Tables) == 0 || slices.ContainsFunc(r.Tables, func(p string) bool { return match(p, n) }) {
			pick = append(pick, n)
		}
	}
	for _, p := range r.Tables {
		if !slices.ContainsFunc(pick, func(n string) bool { return match(p, n) }) {
			unmatched = append(unmatched, p)
		}
	}
	return pick, unmatched
}

// Table states in sdk.TableProgress.
const (
	Queued  = "queued"
	Running = "running"
	Done    = "done"
	Skipped = "skipped"
)

// MaxTables bounds the tables a Progress lists; the oldest finished go
// first.
const MaxTables = 256

// Progress is the per-table progress of incremental snapshots.
type Progress struct {
	mu     sync.Mutex
	tables []sdk.TableProgress
}

// Known reports whether name is listed and not finished.
func (p *Progress) Known(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.index(name)
	return i >= 0 && (p.tables[i].State == Queued || p.tables[i].State == Running)
}

func (p *Progress) index(name string) int {
	return slices.IndexFunc(p.tables, func(t sdk.TableProgress) bool { return t.Name == name })
}

// Queue lists name as queued with the database's row estimate, anew when it
// finished before.
func (p *Progress) Queue(name string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := p.index(name); i >= 0 {
		p.tables = slices.Delete(p.tables, i, i+1)
	}
	p.tables = append(p.tables, sdk.TableProgress{Name: name, State: Queued, Total: total})
	for len(p.tables) > MaxTables {
		j := slices.IndexFunc(p.tables, func(t sdk.TableProgress) bool { return t.State == Done || t.State == Skipped })
		p.tables = slices.Delete(p.tables, max(j, 0), max(j, 0)+1)
	}
}

// Update sets a listed table's state (unchanged when "") and adds rows.
func (p *Progress) Update(name, state string, rows int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.index(name)
	if i < 0 {
		return
	}
	t := &p.tables[i]
	if state != "" {
		t.State = state
	}
	t.Done += rows
	if t.State == Done && t.Total < t.Done {
		t.Total = t.Done
	}
}

// Tables returns a copy of the list.
func (p *Progress) Tables() []sdk.TableProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tables)
}

// Left counts the tables queued or running, with their rows done and
// estimated.
func (p *Progress) Left() (tables int, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tables {
		if t.State == Queued || t.State == Running {
			tables++
			done += t.Done
			total += t.Total
		}
	}
	return tables, done, total
}

// Gauges reports what is left as the task's gauges snapshot_tables_left,
// snapshot_rows_done and snapshot_rows_total (of the tables queued or
// running).
func (p *Progress) Gauges(set func(name string, v float64)) {
	left, done, total := p.Left()
	set("snapshot_tables_left", float64(left))
	set("snapshot_rows_done", float64(done))
	set("snapshot_rows_total", float64(total))
}

// Fill sets pr's Tables and, while it streams (Phase "streaming"), its
// phase and totals from the incremental snapshots.
func (p *Progress) Fill(pr *sdk.Progress) {
	pr.Tables = p.Tables()
	if pr.Phase != "streaming" {
		return
	}
	left, done, total := p.Left()
	pr.Phase, pr.Done, pr.Total = "streaming", done, total
	if left > 0 {
		pr.Phase = "incremental snapshot"
	}
}

// Chunk is one chunk of a table read and waiting for its high watermark.
// Streamed changes of its keys in the meantime drop their rows: the
// stream carries a state at least as new.
type Chunk[R any] struct {
	Table   string
	rows    []R
	dropped []bool
	idx     map[string]int
}

// NewChunk indexes rows by their record keys.
func NewChunk[R any](table string, rows []R, key func(R) string) *Chunk[R] {
	c := &Chunk[R]{Table: table, rows: rows, dropped: make([]bool, len(rows)), idx: make(map[string]int, len(rows))}
	for i, r := range rows {
		c.idx[key(r)] = i
	}
	return c
}

// Drop removes the row with record key k, if the chunk has it.
func (c *Chunk[R]) Drop(k string) {
	if i, ok := c.idx[k]; ok {
		c.dropped[i] = true
	}
}

// Len is the number of rows read.
func (c *Chunk[R]) Len() int { return len(c.rows) }

// Kept returns the rows no streamed change dropped, in key order.
func (c *Chunk[R]) Kept() []R {
	out := make([]R, 0, len(c.rows))
	for i, r := range c.rows {
		if !c.dropped[i] {
			out = append(out, r)
		}
	}
	return out
}
