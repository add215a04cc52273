package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/braidhq/braid/connectors/sdk"
)

// Incremental snapshots are requested through the cluster's target of a
// connector, like pause and restart: the request is stored first, then the
// worker that runs the source hands it over (sdk.IncrementalSnapshotter),
// now and after every later Open, until the source's position shows it was
// taken up. So a request made while the task moves between workers, or just
// before a crash, is not lost.

// maxSnapshotRequests bounds the requests a target keeps; older ones were
// taken up long ago (a source takes them in order).
const maxSnapshotRequests = 16

// maxSnapshotTables bounds the tables of one request.
const maxSnapshotTables = 1024

// ErrNoIncrementalSnapshot is returned for a connector whose plugin cannot
// snapshot while it runs.
var ErrNoIncrementalSnapshot = errors.New("connector cannot take an incremental snapshot")

// Snapshot asks a source connector for an incremental snapshot of tables
// (every captured table when empty) and returns the request's ID.
func (w *Worker) Snapshot(ctx context.Context, name string, tables []string) (uint64, error) {
	c, err := w.get(name)
	if err != nil {
		return 0, err
	}
	if !c.canSnapshot() {
		return 0, fmt.Errorf("%w: %s (%s)", ErrNoIncrementalSnapshot, name, c.cfg.Plugin)
	}
	if len(tables) > maxSnapshotTables {
		return 0, fmt.Errorf("%w: %d tables, at most %d in one request", sdk.ErrInvalidConfig, len(tables), maxSnapshotTables)
	}
	for _, t := range tables {
		if t == "" || len(t) > 256 {
			return 0, fmt.Errorf("%w: table name %q must have 1 to 256 characters", sdk.ErrInvalidConfig, t)
		}
	}
	var id uint64
	err = w.setTarget(ctx, name, func(t *target) {
		id = 1
		if n := len(t.Snapshots); n > 0 {
			id = t.Snapshots[n-1].ID + 1
		}
		t.Snapshots = append(t.Snapshots, sdk.SnapshotRequest{ID: id, Tables: slices.Clone(tables)})
		if n := len(t.Snapshots); n > maxSnapshotRequests {
			t.Snapshots = slices.Delete(t.Snapshots, 0, n-maxSnapshotRequests)
		}
	})
	return id, err
}

// canSnapshot reports whether the connector's source implements
// sdk.IncrementalSnapshotter, on an instance that is never opened.
func (c *connector) canSnapshot() bool {
	if c.plugin.NewSource == nil {
		return false
	}
	cfg, err := c.plugin.Spec.Validate(c.cfg.Config)
	if err != nil {
		return false
	}
	src, err := c.plugin.NewSource(cfg, c.env(&task{c: c}))
	if err != nil {
		return false
	}
	_, ok := src.(sdk.IncrementalSnapshotter)
	return ok
}

// handSnapshots gives an opened source the connector's snapshot requests
// newer than those it was given, and records a refusal in the log.
func (t *task) handSnapshots(reqs []sdk.SnapshotRequest) {
	t.mu.Lock()
	is, seen := t.snapshotter, t.snapSeen
	if is == nil || len(reqs) == 0 || reqs[len(reqs)-1].ID <= seen {
		t.mu.Unlock()
		return
	}
	t.snapSeen = reqs[len(reqs)-1].ID
	t.mu.Unlock()
	if err := is.Snapshot(slices.Clone(reqs)); err != nil {
		t.c.w.logger.Warn("incremental snapshot refused", "connector", t.c.cfg.Name, "task", t.id, "err", err)
		return
	}
	t.c.w.logger.Info("incremental snapshot requested", "connector", t.c.cfg.Name, "task", t.id, "request", reqs[len(reqs)-1].ID)
}
