package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
)

// State is a connector's or task's state, as Kafka Connect names them.
type State string

// The states.
const (
	StateRunning    State = "RUNNING"
	StatePaused     State = "PAUSED"
	StateStopped    State = "STOPPED"
	StateFailed     State = "FAILED"
	StateUnassigned State = "UNASSIGNED"
	// StateBlocked: the task runs but cannot make progress (a full topic,
	// an unavailable log); the trace says why. It resumes by itself.
	StateBlocked State = "BLOCKED"
)

// TaskStatus is one task's status.
type TaskStatus struct {
	ID       int    `json:"id"`
	State    State  `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
	// Gauges are the task's latest measurements (sdk.Env.SetGauge).
	Gauges map[string]float64 `json:"gauges,omitempty"`
}

// ConnectorStatus is a connector's status.
type ConnectorStatus struct {
	Name      string        `json:"name"`
	Connector TaskStatus    `json:"connector"`
	Tasks     []TaskStatus  `json:"tasks"`
	Type      sdk.Kind      `json:"type"`
	Progress  *sdk.Progress `json:"progress,omitempty"`
}

type connector struct {
	w      *Worker
	cfg    ConnectorConfig
	raw    string // cfg as stored, to tell a changed config from the same one
	plugin sdk.Plugin

	mu      sync.Mutex
	tasks   []*task
	state   State
	paused  bool
	pauseCh chan struct{} // closed while not paused
}

func (w *Worker) newConnector(cfg ConnectorConfig, plugin sdk.Plugin) (*connector, error) {
	c := &connector{w: w, cfg: cfg, plugin: plugin, state: StateUnassigned, pauseCh: make(chan struct{})}
	close(c.pauseCh)
	return c, nil
}

type task struct {
	c        *connector
	id       int
	cancel   context.CancelFunc
	done     chan struct{}
	finished atomic.Bool // a source reached the end of its input
	// atomic: the source replays from a position, so its batches are
	// stored all-or-nothing (see sdk.NotReplayable).
	atomic bool

	mu       sync.Mutex
	state    State
	trace    string
	owned    bool // this worker holds the task's lease
	progress func() sdk.Progress
	gauges   map[string]float64
	// snapshotter is the opened source when it takes incremental
	// snapshots; snapSeen the last request ID handed to it.
	snapshotter sdk.IncrementalSnapshotter
	snapSeen    uint64
}

func (t *task) status() TaskStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TaskStatus{ID: t.id, State: t.state, WorkerID: t.c.w.opts.WorkerID, Trace: t.trace, Gauges: maps.Clone(t.gauges)}
}

// maxGauges bounds the names a task's connector may record.
const maxGauges = 32

// setGauge records a connector's measurement for status and metrics.
func (t *task) setGauge(name string, v float64) {
	t.mu.Lock()
	if t.gauges == nil {
		t.gauges = map[string]float64{}
	}
	_, known := t.gauges[name]
	if !known && len(t.gauges) >= maxGauges {
		t.mu.Unlock()
		return
	}
	t.gauges[name] = v
	t.mu.Unlock()
	t.c.w.metrics.Gauges.WithLabelValues(t.c.cfg.Name, strconv.Itoa(t.id), name).Set(v)
}

func (t *task) set(state State, trace string) {
	t.mu.Lock()
	prev := t.state
	t.state, t.trace = state, trace
	t.mu.Unlock()
	m := t.c.w.metrics.TaskState
	id := strconv.Itoa(t.id)
	if prev != "" {
		m.WithLabelValues(t.c.cfg.Name, id, string(prev)).Set(0)
	}
	m.WithLabelValues(t.c.cfg.Name, id, string(state)).Set(1)
	t.saveStatus()
}

// setOwned records whether this worker holds the task's lease; only the
// owner writes the task's status to the cluster.
func (t *task) setOwned(owned bool) {
	t.mu.Lock()
	t.owned = owned
	t.mu.Unlock()
}

// saveStatus writes the task's status to the status bucket while this
// worker owns the task, so every worker's status shows it.
func (t *task) saveStatus() {
	t.mu.Lock()
	owned := t.owned
	t.mu.Unlock()
	if !owned {
		return
	}
	t.c.w.putStatus(t.c.ref(t.id).status(), t.status())
}

func (c *connector) taskList() []*task {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*task(nil), c.tasks...)
}

func (c *connector) setState(s State) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

func (c *connector) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == StateStopped
}

func (c *connector) startTasks(parent context.Context) {
	c.mu.Lock()
	c.tasks = nil
	for i := 0; i < c.cfg.Tasks; i++ {
		t := &task{c: c, id: i, state: StateUnassigned}
		c.tasks = append(c.tasks, t)
	}
	tasks := append([]*task(nil), c.tasks...)
	c.state = StateRunning
	c.mu.Unlock()
	for _, t := range tasks {
		c.launch(parent, t)
	}
}

func (c *connector) launch(parent context.Context, t *task) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	t.mu.Lock()
	t.cancel, t.done = cancel, done
	t.mu.Unlock()
	t.finished.Store(false)
	go c.supervise(ctx, t, done)
}

// handles returns the running task's cancel func and done channel (nil
// before its first launch), read under the lock launch writes them under.
func (t *task) handles() (context.CancelFunc, chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cancel, t.done
}

// supervise runs a task while this worker holds its lease, restarting it
// with backoff when it fails; a lost lease stops it until it is won again.
func (c *connector) supervise(ctx context.Context, t *task, done chan struct{}) {
	defer close(done)
	for {
		t.set(StateUnassigned, "")
		l, err := c.w.leases.acquire(ctx, c.ref(t.id).lease())
		if err != nil {
			t.set(StateStopped, "")
			return
		}
		t.setOwned(true)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-l.lost:
				cancel()
			case <-lctx.Done():
			}
		}()
		c.runWithRestarts(lctx, t)
		cancel()
		c.release(t, l)
		if ctx.Err() != nil {
			t.set(StateStopped, "")
			return
		}
		c.w.logger.Info("task lease lost or given back; waiting to win it again", "connector", c.cfg.Name, "task", t.id)
	}
}

// runWithRestarts runs a task until ctx ends, restarting it with backoff.
func (c *connector) runWithRestarts(ctx context.Context, t *task) {
	log := c.w.logger.With("connector", c.cfg.Name, "task", t.id)
	failures := 0
	for {
		t.set(StateRunning, "")
		started := time.Now()
		err := c.runTask(ctx, t)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			// A finite source is done; keep RUNNING, as Kafka Connect shows it.
			<-ctx.Done()
			return
		}
		if time.Since(started) > time.Minute {
			failures = 0
		}
		wait := backoff(c.w.opts.RestartBackoff, c.w.opts.RestartMaxBackoff, failures)
		failures++
		t.set(StateFailed, err.Error())
		c.w.metrics.Errors.WithLabelValues(c.cfg.Name, "task").Inc()
		if sdk.IsFatal(err) {
			log.Error("task failed with a fatal error; not restarting until asked", "err", err)
			<-ctx.Done()
			return
		}
		log.Error("task failed; restarting", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		c.w.metrics.Restarts.WithLabelValues(c.cfg.Name).Inc()
	}
}

func (c *connector) runTask(ctx context.Context, t *task) error {
	if c.cfg.Kind == sdk.KindSource {
		return c.runSource(ctx, t)
	}
	return c.runSink(ctx, t)
}

func (c *connector) stopTasks(ctx context.Context) {
	for _, t := range c.taskList() {
		if cancel, _ := t.handles(); cancel != nil {
			cancel()
		}
	}
	for _, t := range c.taskList() {
		_, done := t.handles()
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-ctx.Done():
			c.w.logger.Warn("task did not stop in time", "connector", c.cfg.Name, "task", t.id)
		}
	}
}

func (c *connector) restartTask(ctx, parent context.Context, id int) error {
	var t *task
	for _, x := range c.taskList() {
		if x.id == id {
			t = x
		}
	}
	if t == nil {
		return fmt.Errorf("%w: %s task %d", ErrNotFound, c.cfg.Name, id)
	}
	if cancel, done := t.handles(); cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	c.state = StateRunning
	c.mu.Unlock()
	c.launch(parent, t)
	return nil
}

func (c *connector) setPaused(p bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused == p {
		return
	}
	c.paused = p
	if p {
		c.pauseCh = make(chan struct{})
		c.state = StatePaused
	} else {
		close(c.pauseCh)
		c.state = StateRunning
	}
	for _, t := range c.tasks {
		go t.saveStatus()
	}
}

// waitUnpaused blocks while the connector is paused.
func (c *connector) waitUnpaused(ctx context.Context) error {
	c.mu.Lock()
	ch := c.pauseCh
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *connector) isPaused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// status is the connector's status as the cluster sees it: tasks this
// worker owns from memory, the others from the status bucket (UNASSIGNED
// when no live worker claims them).
func (c *connector) status(ctx context.Context) ConnectorStatus {
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	if state == StateUnassigned {
		state = StateRunning
	}
	st := ConnectorStatus{Name: c.cfg.Name, Type: c.cfg.Kind,
		Connector: TaskStatus{State: state, WorkerID: c.w.opts.WorkerID}, Tasks: []TaskStatus{}}
	remote := c.w.clusterTasks(ctx, c.cfg.Name)
	local := map[int]*task{}
	for _, t := range c.taskList() {
		local[t.id] = t
	}
	for id := range c.cfg.Tasks {
		var ts TaskStatus
		t := local[id]
		owned := false
		if t != nil {
			t.mu.Lock()
			owned = t.owned
			if owned && t.progress != nil {
				p := t.progress()
				st.Progress = &p
			}
			t.mu.Unlock()
		}
		switch r, ok := remote[id]; {
		case owned:
			ts = t.status()
		case ok:
			ts = r
		case state == StateStopped:
			ts = TaskStatus{ID: id, State: StateStopped}
		default:
			ts = TaskStatus{ID: id, State: StateUnassigned}
		}
		if state == StatePaused && ts.State == StateRunning {
			ts.State = StatePaused
		}
		st.Tasks = append(st.Tasks, ts)
	}
	return st
}

// release gives the task's lease back. The status it leaves in the cluster
// is STOPPED when the connector was stopped, else none: the next owner
// writes its own, and until then every worker shows the task UNASSIGNED.
func (c *connector) release(t *task, l *lease) {
	key := c.ref(t.id).status()
	if c.isStopped() {
		st := t.status()
		st.State, st.Trace = StateStopped, ""
		c.w.putStatus(key, st)
	} else {
		c.w.deleteStatus(key, c.w.opts.WorkerID)
	}
	t.setOwned(false)
	l.stop()
}

// store is the connector's sdk.Store, a key prefix in the state bucket.
type store struct {
	w      *Worker
	prefix string
}

func (s store) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.w.state.Get(ctx, s.prefix+key)
	if err != nil {
		if errors.Is(err, log.ErrKeyNotFound) {
			return nil, sdk.ErrNotFound
		}
		return nil, err
	}
	return e.Value, nil
}

func (s store) Put(ctx context.Context, key string, value []byte) error {
	_, err := s.w.state.Put(ctx, s.prefix+key, value)
	return err
}

func (s store) Delete(ctx context.Context, key string) error {
	return s.w.state.Delete(ctx, s.prefix+key)
}

// deleted lets a connector remove what it keeps outside Braid (sdk.Deleter),
// on an instance that is never opened.
func (c *connector) deleted(ctx context.Context) {
	cfg, err := c.plugin.Spec.Validate(c.cfg.Config)
	if err != nil {
		return
	}
	t := &task{c: c}
	var inst any
	switch {
	case c.plugin.NewSource != nil:
		inst, err = c.plugin.NewSource(cfg, c.env(t))
	case c.plugin.NewSink != nil:
		inst, err = c.plugin.NewSink(cfg, c.env(t))
	}
	d, ok := inst.(sdk.Deleter)
	if err != nil || !ok {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.Deleted(dctx); err != nil {
		c.w.logger.Warn("connector deleted, but not its external state", "connector", c.cfg.Name, "err", err)
	}
}

func (c *connector) env(t *task) sdk.Env {
	return sdk.Env{
		Logger:    c.w.logger.With("connector", c.cfg.Name, "task", t.id),
		Pipeline:  c.cfg.Pipeline,
		Connector: c.cfg.Name,
		Task:      t.id,
		Topic:     c.cfg.Topic,
		Topics:    c.cfg.Topics,
		Store:     store{w: c.w, prefix: c.cfg.Name + "/"},
		DataDir:   c.w.scratchDir(c.cfg.Name, t.id),
		Gauge:     t.setGauge,
	}
}
