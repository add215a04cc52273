package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
)

// BucketTargets holds each connector's target state and restart requests:
// cluster state, obeyed by every worker for the tasks it runs (Kafka
// Connect's target states, KIP-875's STOPPED included).
const BucketTargets = "braid-targets"

// target is what the cluster wants of a connector.
type target struct {
	State State `json:"state"` // RUNNING, PAUSED or STOPPED
	// Restart counts restart requests; a worker restarts the tasks it runs
	// that the latest request names (all when Tasks is nil).
	Restart    uint64 `json:"restart,omitempty"`
	Tasks      []int  `json:"tasks,omitempty"`
	OnlyFailed bool   `json:"only_failed,omitempty"`
	// Snapshots are the latest incremental snapshot requests (snapshot.go).
	Snapshots []sdk.SnapshotRequest `json:"snapshots,omitempty"`
}

// loadTargets reads every target before connectors start, so a connector
// stopped or paused in the cluster never runs here, not even briefly.
func (w *Worker) loadTargets(ctx context.Context) error {
	keys, err := w.targets.Keys(ctx, "")
	if err != nil {
		return fmt.Errorf("worker: list %s: %w", BucketTargets, err)
	}
	for _, k := range keys {
		e, err := w.targets.Get(ctx, k)
		if errors.Is(err, log.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("worker: read target of %s: %w", k, err)
		}
		var tg target
		if json.Unmarshal(e.Value, &tg) == nil {
			w.mu.Lock()
			w.targetOf[k] = tg
			w.restartSeen[k] = tg.Restart // old requests are done
			w.mu.Unlock()
		}
	}
	return nil
}

// followTargets applies target changes made through any worker.
func (w *Worker) followTargets(ctx context.Context, updates <-chan log.Entry) {
	for e := range updates {
		if e.Deleted {
			w.mu.Lock()
			delete(w.targetOf, e.Key)
			w.mu.Unlock()
			continue
		}
		var tg target
		if err := json.Unmarshal(e.Value, &tg); err != nil {
			w.logger.Warn("unreadable target state from the cluster", "connector", e.Key, "err", err)
			continue
		}
		w.applyTarget(ctx, e.Key, tg)
	}
}

// applyTarget makes the connector's tasks on this worker obey tg.
func (w *Worker) applyTarget(ctx context.Context, name string, tg target) {
	w.applyMu.Lock()
	defer w.applyMu.Unlock()
	w.mu.Lock()
	w.targetOf[name] = tg
	c := w.conns[name]
	seen := w.restartSeen[name]
	if tg.Restart > seen {
		w.restartSeen[name] = tg.Restart
	}
	w.mu.Unlock()
	if c == nil {
		return
	}
	switch tg.State {
	case StateStopped:
		if !c.isStopped() {
			c.setState(StateStopped) // first: tasks that end now record STOPPED
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			c.stopTasks(sctx)
			cancel()
			w.logger.Info("connector stopped", "connector", name)
		}
	case StatePaused, StateRunning:
		if c.isStopped() {
			c.setPaused(tg.State == StatePaused)
			c.startTasks(w.ctx)
		}
		c.setPaused(tg.State == StatePaused)
	}
	for _, t := range c.taskList() {
		t.handSnapshots(tg.Snapshots)
	}
	if tg.Restart > seen && tg.State != StateStopped {
		for _, t := range c.taskList() {
			if tg.Tasks != nil && !slices.Contains(tg.Tasks, t.id) {
				continue
			}
			t.mu.Lock()
			owned, state := t.owned, t.state
			t.mu.Unlock()
			if !owned || (tg.OnlyFailed && state != StateFailed) {
				continue // another worker's, or not failed
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := c.restartTask(rctx, w.ctx, t.id); err != nil {
				w.logger.Warn("restart task", "connector", name, "task", t.id, "err", err)
			}
			cancel()
		}
	}
}

// setTarget changes a connector's target in the cluster (compare and set)
// and applies it here at once; other workers apply it from the bucket.
func (w *Worker) setTarget(ctx context.Context, name string, change func(*target)) error {
	if _, err := w.get(name); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		tg := target{State: StateRunning}
		var rev uint64
		e, err := w.targets.Get(ctx, name)
		switch {
		case err == nil:
			if err := json.Unmarshal(e.Value, &tg); err != nil {
				return fmt.Errorf("connector %s: stored target: %w", name, err)
			}
			rev = e.Revision
		case !errors.Is(err, log.ErrKeyNotFound):
			return fmt.Errorf("connector %s: read target: %w", name, err)
		}
		change(&tg)
		raw, _ := json.Marshal(tg)
		if rev == 0 {
			_, err = w.targets.Create(ctx, name, raw)
		} else {
			_, err = w.targets.Update(ctx, name, raw, rev)
		}
		if err == nil {
			w.applyTarget(ctx, name, tg)
			return nil
		}
		if (!errors.Is(err, log.ErrKeyExists) && !errors.Is(err, log.ErrWrongRevision)) || attempt >= 10 {
			return fmt.Errorf("connector %s: store target: %w", name, err)
		}
	}
}

// target returns the cluster's target for a connector (RUNNING if unset).
func (w *Worker) target(name string) target {
	w.mu.Lock()
	defer w.mu.Unlock()
	if tg, ok := w.targetOf[name]; ok {
		return tg
	}
	return target{State: StateRunning}
}

// Pause pauses every task of a connector on every worker; they keep their
// resources.
func (w *Worker) Pause(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, func(t *target) { t.State = StatePaused })
}

// Resume resumes a paused or stopped connector on every worker.
func (w *Worker) Resume(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, func(t *target) { t.State = StateRunning })
}

// Stop shuts a connector's tasks down on every worker, keeping its config
// (KIP-875's STOPPED); its offsets may then be changed.
func (w *Worker) Stop(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, func(t *target) { t.State = StateStopped })
}

// Restart asks the workers running a connector's tasks to restart them
// (all, or only the failed ones).
func (w *Worker) Restart(ctx context.Context, name string, onlyFailed bool) error {
	return w.setTarget(ctx, name, func(t *target) { t.Restart++; t.Tasks, t.OnlyFailed = nil, onlyFailed })
}

// RestartTask asks the worker running a task to restart it.
func (w *Worker) RestartTask(ctx context.Context, name string, id int) error {
	c, err := w.get(name)
	if err != nil {
		return err
	}
	if id < 0 || id >= c.cfg.Tasks {
		return fmt.Errorf("%w: %s task %d", ErrNotFound, name, id)
	}
	return w.setTarget(ctx, name, func(t *target) { t.Restart++; t.Tasks, t.OnlyFailed = []int{id}, false })
}

// State returns a connector's target state in the cluster.
func (w *Worker) State(name string) (State, error) {
	if _, err := w.get(name); err != nil {
		return "", err
	}
	return w.target(name).State, nil
}

// Stopped reports whether a connector is STOPPED cluster-wide: its target
// is STOPPED and no live worker still runs one of its tasks. When it is
// not, why says what still runs.
func (w *Worker) Stopped(ctx context.Context, name string) (ok bool, why string, err error) {
	st, err := w.StatusContext(ctx, name)
	if err != nil {
		return false, "", err
	}
	if st.Connector.State != StateStopped {
		return false, fmt.Sprintf("%s is %s", name, st.Connector.State), nil
	}
	c, err := w.get(name)
	if err != nil {
		return false, "", err
	}
	for _, t := range st.Tasks {
		if t.State != StateStopped && t.State != StateUnassigned {
			return false, fmt.Sprintf("%s task %d is still %s on worker %s", name, t.ID, t.State, t.WorkerID), nil
		}
		// UNASSIGNED between a restart and the next start: a lease held
		// means a worker is about to run it.
		if holder, held := w.leases.holder(ctx, c.ref(t.ID).lease()); held {
			return false, fmt.Sprintf("%s task %d is held by worker %s", name, t.ID, holder), nil
		}
	}
	return true, "", nil
}

// putStatus writes a task's status to the status bucket.
func (w *Worker) putStatus(key string, st TaskStatus) {
	raw, err := json.Marshal(st)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := w.status.Put(ctx, key, raw); err != nil && !errors.Is(err, context.Canceled) {
		w.logger.Debug("store task status", "key", key, "err", err)
	}
}

// deleteStatus removes a task's status if it still names this worker.
func (w *Worker) deleteStatus(key, workerID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e, err := w.status.Get(ctx, key)
	if err != nil {
		return
	}
	var st TaskStatus
	if json.Unmarshal(e.Value, &st) == nil && st.WorkerID == workerID {
		_ = w.status.Delete(ctx, key)
	}
}

// clusterTasks reads the statuses of a connector's tasks that live workers
// wrote; a dead worker's are left out (its tasks are UNASSIGNED until
// another worker takes them).
func (w *Worker) clusterTasks(ctx context.Context, name string) map[int]TaskStatus {
	prefix := statusTaskPrefix(name)
	keys, err := w.status.Keys(ctx, prefix)
	if err != nil {
		return nil
	}
	out := map[int]TaskStatus{}
	for _, k := range keys {
		id, ok := parseTaskSuffix(k, prefix)
		if !ok {
			continue
		}
		e, err := w.status.Get(ctx, k)
		if err != nil {
			continue
		}
		var st TaskStatus
		if json.Unmarshal(e.Value, &st) != nil {
			continue
		}
		if st.State != StateStopped && !w.leases.alive(st.WorkerID) {
			continue
		}
		out[id] = st
	}
	return out
}
