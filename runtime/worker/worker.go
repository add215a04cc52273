package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/schema/convert"
	"github.com/prometheus/client_golang/prometheus"
)

// KV buckets holding the worker's state.
const (
	BucketConnectors = "braid-connectors"
	BucketPositions  = "braid-positions"
	BucketStatus     = "braid-status"
	BucketState      = "braid-connector-state"
)

// ErrNotFound is returned for an unknown connector or task.
var ErrNotFound = errors.New("connector not found")

// Options configures a Worker.
type Options struct {
	Log      *log.Log
	Plugins  sdk.Plugins
	Logger   *slog.Logger
	WorkerID string
	// DataDir holds connectors' scratch directories (never state).
	DataDir string
	Metrics *Metrics
	// ConverterEnv is handed to converter factories (the schema registry).
	ConverterEnv convert.Env
	// RestartBackoff is the first wait before restarting a failed task (default 1s).
	RestartBackoff    time.Duration
	RestartMaxBackoff time.Duration
	// LeaseTTL and LeaseRefresh time the task leases through which workers
	// sharing a NATS cluster split the tasks (defaults 10s and 2s).
	LeaseTTL, LeaseRefresh time.Duration
}

// Worker runs connectors.
type Worker struct {
	opts      Options
	log       *log.Log
	logger    *slog.Logger
	metrics   *Metrics
	positions *log.KV
	configs   *log.KV
	status    *log.KV
	state     *log.KV
	targets   *log.KV
	leases    *leases

	applyMu sync.Mutex // serialises put and remove
	mu      sync.Mutex
	conns   map[string]*connector
	// targetOf caches the cluster's target per connector; restartSeen is
	// the last restart request applied per connector.
	targetOf    map[string]target
	restartSeen map[string]uint64
	started     time.Time
	ctx         context.Context // lives as long as the worker
	stop        context.CancelFunc
}

// New returns a worker; it opens its KV buckets.
func New(ctx context.Context, opts Options) (*Worker, error) {
	if opts.Log == nil {
		return nil, errors.New("worker: no log")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WorkerID == "" {
		opts.WorkerID = defaultWorkerID(opts.DataDir)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	if opts.RestartMaxBackoff <= 0 {
		opts.RestartMaxBackoff = time.Minute
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = defaultLeaseTTL
	}
	if opts.LeaseRefresh <= 0 {
		opts.LeaseRefresh = defaultLeaseRefresh
	}
	w := &Worker{opts: opts, log: opts.Log, logger: opts.Logger, metrics: opts.Metrics, conns: map[string]*connector{},
		targetOf: map[string]target{}, restartSeen: map[string]uint64{}}
	var err error
	for _, b := range []struct {
		name string
		kv   **log.KV
	}{{BucketPositions, &w.positions}, {BucketConnectors, &w.configs}, {BucketStatus, &w.status}, {BucketState, &w.state}, {BucketTargets, &w.targets}} {
		if *b.kv, err = opts.Log.KV(ctx, b.name); err != nil {
			return nil, fmt.Errorf("worker: open bucket %s: %w", b.name, err)
		}
	}
	if w.leases, err = newLeases(ctx, opts.Log, opts.WorkerID, opts.LeaseTTL, opts.LeaseRefresh, w.taskCount); err != nil {
		return nil, fmt.Errorf("worker: open bucket %s: %w", BucketLeases, err)
	}
	w.ctx, w.stop = context.WithCancel(context.Background())
	w.started = time.Now()
	updates, err := w.configs.WatchUpdates(w.ctx, "")
	if err != nil {
		w.stop()
		return nil, fmt.Errorf("worker: watch %s: %w", BucketConnectors, err)
	}
	targetUpdates, err := w.targets.WatchUpdates(w.ctx, "")
	if err != nil {
		w.stop()
		return nil, fmt.Errorf("worker: watch %s: %w", BucketTargets, err)
	}
	if err := w.loadTargets(ctx); err != nil {
		w.stop()
		return nil, err
	}
	go w.followTargets(w.ctx, targetUpdates)
	// Run every connector the cluster stores (made through any worker's
	// API or pipeline), then follow changes; the watch started first, so a
	// change made meanwhile is applied after the load.
	if err := w.loadConfigs(ctx); err != nil {
		w.stop()
		return nil, err
	}
	go w.followConfigs(w.ctx, updates)
	go w.leases.heartbeat(w.ctx)
	return w, nil
}

// loadConfigs starts every connector stored in the configs bucket.
func (w *Worker) loadConfigs(ctx context.Context) error {
	keys, err := w.configs.Keys(ctx, "")
	if err != nil {
		return fmt.Errorf("worker: list %s: %w", BucketConnectors, err)
	}
	for _, k := range keys {
		e, err := w.configs.Get(ctx, k)
		if errors.Is(err, log.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("worker: read connector %s: %w", k, err)
		}
		w.applyStored(ctx, e)
	}
	if len(keys) > 0 {
		w.logger.Info("connectors stored in the cluster started", "count", len(keys))
	}
	return nil
}

// applyStored runs a connector config read from the bucket.
func (w *Worker) applyStored(ctx context.Context, e log.Entry) {
	var cfg ConnectorConfig
	if err := json.Unmarshal(e.Value, &cfg); err != nil {
		w.logger.Warn("unreadable connector config from the cluster", "connector", e.Key, "err", err)
		return
	}
	if err := w.put(ctx, cfg, false); err != nil {
		w.logger.Warn("connector config from the cluster not applied", "connector", e.Key, "err", err)
	}
}

// taskCount is how many tasks this worker's connectors have in all.
func (w *Worker) taskCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.conns {
		n += c.cfg.Tasks
	}
	return n
}

// defaultWorkerID names a worker by its host and data dir, so a worker that
// crashed and restarts on the same data dir is the same worker: it takes its
// task leases back at once instead of waiting for them to lapse.
func defaultWorkerID(dataDir string) string {
	host, _ := os.Hostname()
	if dataDir == "" {
		return fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("%s-%s", host, hex.EncodeToString(sum[:4]))
}

// Ready returns nil while the worker can run tasks: its heartbeat reaches
// the cluster's state (without it no lease can be won or kept).
func (w *Worker) Ready() error {
	last := w.leases.lastBeat()
	switch {
	case last.IsZero() && time.Since(w.started) < w.opts.LeaseTTL:
		return nil // the first heartbeat is on its way
	case last.IsZero():
		return fmt.Errorf("worker %s has not reached the cluster state (bucket %s) since it started", w.opts.WorkerID, BucketLeases)
	case time.Since(last) > w.opts.LeaseTTL:
		return fmt.Errorf("worker %s cannot reach the cluster state (bucket %s) since %s: no task can be won or kept",
			w.opts.WorkerID, BucketLeases, last.UTC().Format(time.RFC3339))
	}
	return nil
}

// Plugins returns the connector types the worker knows.
func (w *Worker) Plugins() sdk.Plugins { return w.opts.Plugins }

// Log returns the log the worker runs on.
func (w *Worker) Log() *log.Log { return w.log }

// ID returns the worker's id.
func (w *Worker) ID() string { return w.opts.WorkerID }

// Put starts a connector, or restarts it with a new config when it runs.
func (w *Worker) Put(ctx context.Context, cfg ConnectorConfig) error {
	return w.put(ctx, cfg, true)
}

// put starts or replaces a connector; store writes its config to the shared
// bucket (false when the change came from the bucket, i.e. another worker).
func (w *Worker) put(ctx context.Context, cfg ConnectorConfig, store bool) error {
	w.applyMu.Lock()
	defer w.applyMu.Unlock()
	if err := cfg.Validate(); err != nil {
		return err
	}
	plugin, ok := w.opts.Plugins.Lookup(cfg.Kind, cfg.Plugin)
	if !ok {
		return fmt.Errorf("%w: connector %s: connector: no %s connector named %q", sdk.ErrInvalidConfig, cfg.Name, cfg.Kind, cfg.Plugin)
	}
	// The worker's settings and the connector's, each against its one spec
	// (rules across settings included), before anything is stored.
	cfg, err := cfg.resolve(plugin.Spec)
	if err != nil {
		return err
	}
	if _, err := plugin.Spec.Validate(cfg.Config); err != nil {
		return err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("connector %s: encode config: %w", cfg.Name, err)
	}
	w.mu.Lock()
	old := w.conns[cfg.Name]
	w.mu.Unlock()
	if old != nil && old.raw == string(raw) {
		// Unchanged (our own write coming back from the bucket, or a
		// pipeline applied again): keep it running.
		if store {
			if _, err := w.configs.Put(ctx, cfg.Name, raw); err != nil {
				return fmt.Errorf("connector %s: store config: %w", cfg.Name, err)
			}
		}
		return nil
	}
	c, err := w.newConnector(cfg, plugin)
	if err != nil {
		return err
	}
	c.raw = string(raw)
	// Store first, swap second: a config the cluster did not take is never
	// run, and the old connector stays in the map (and stoppable).
	if store {
		if _, err := w.configs.Put(ctx, cfg.Name, raw); err != nil {
			return fmt.Errorf("connector %s: store config: %w", cfg.Name, err)
		}
	}
	w.mu.Lock()
	w.conns[cfg.Name] = c
	w.mu.Unlock()
	if old != nil {
		old.stopTasks(ctx)
	}
	switch tg := w.target(cfg.Name); tg.State {
	case StateStopped:
		c.setState(StateStopped)
		w.logger.Info("connector is stopped in the cluster; not starting its tasks", "connector", cfg.Name)
		return nil
	case StatePaused:
		c.setPaused(true)
	}
	c.startTasks(w.ctx)
	w.logger.Info("connector started", "connector", cfg.Name, "type", cfg.Plugin, "tasks", cfg.Tasks)
	return nil
}

// Delete stops a connector and forgets its config (not its offsets), on
// every worker of the cluster.
func (w *Worker) Delete(ctx context.Context, name string) error {
	return w.remove(ctx, name, true)
}

func (w *Worker) remove(ctx context.Context, name string, store bool) error {
	w.applyMu.Lock()
	defer w.applyMu.Unlock()
	w.mu.Lock()
	c := w.conns[name]
	delete(w.conns, name)
	w.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	c.stopTasks(ctx)
	w.metrics.Gauges.DeletePartialMatch(prometheus.Labels{"connector": name})
	if store {
		c.deleted(ctx)
		_ = w.configs.Delete(ctx, name)
		_ = w.targets.Delete(ctx, name)
		if keys, err := w.status.Keys(ctx, statusTaskPrefix(name)); err == nil {
			for _, k := range keys {
				_ = w.status.Delete(ctx, k)
			}
		}
	}
	w.mu.Lock()
	delete(w.targetOf, name)
	delete(w.restartSeen, name)
	w.mu.Unlock()
	w.logger.Info("connector deleted", "connector", name)
	return nil
}

// followConfigs applies connector configs other workers of the cluster put
// or delete (through their REST API or pipeline files), so a change made on
// one worker reaches them all.
func (w *Worker) followConfigs(ctx context.Context, updates <-chan log.Entry) {
	for e := range updates {
		w.mu.Lock()
		c := w.conns[e.Key]
		w.mu.Unlock()
		if e.Deleted {
			if c != nil {
				_ = w.remove(ctx, e.Key, false)
			}
			continue
		}
		w.applyStored(ctx, e)
	}
}

func (w *Worker) get(name string) (*connector, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.conns[name]
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return c, nil
}

// Names lists running connectors, sorted.
func (w *Worker) Names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.conns))
	for n := range w.conns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Config returns a connector's config.
func (w *Worker) Config(name string) (ConnectorConfig, error) {
	c, err := w.get(name)
	if err != nil {
		return ConnectorConfig{}, err
	}
	return c.cfg, nil
}

// Status returns a connector's status in Kafka Connect's shape, as the
// cluster sees it (every task with the worker running it).
func (w *Worker) Status(name string) (ConnectorStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.StatusContext(ctx, name)
}

// StatusContext is Status within ctx.
func (w *Worker) StatusContext(ctx context.Context, name string) (ConnectorStatus, error) {
	c, err := w.get(name)
	if err != nil {
		return ConnectorStatus{}, err
	}
	return c.status(ctx), nil
}

// Close stops every connector within ctx, draining in-flight work.
func (w *Worker) Close(ctx context.Context) error {
	w.mu.Lock()
	conns := make([]*connector, 0, len(w.conns))
	for _, c := range w.conns {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); c.stopTasks(ctx) }()
	}
	wg.Wait()
	w.stop()
	return ctx.Err()
}

// WaitIdle blocks until every source has reached the end of its input and
// every sink has durably written everything in its topics, or ctx ends.
func (w *Worker) WaitIdle(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		idle, err := w.idle(ctx)
		if err != nil {
			return err
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (w *Worker) idle(ctx context.Context) (bool, error) {
	w.mu.Lock()
	conns := make([]*connector, 0, len(w.conns))
	for _, c := range w.conns {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	for _, c := range conns {
		for _, t := range c.taskList() {
			st := t.status()
			if st.State == StateFailed {
				return false, fmt.Errorf("connector %s task %d failed: %s", c.cfg.Name, t.id, st.Trace)
			}
			if c.cfg.Kind == sdk.KindSource && !t.finished.Load() {
				return false, nil
			}
		}
	}
	for _, c := range conns {
		if c.cfg.Kind != sdk.KindSink {
			continue
		}
		for _, topic := range c.cfg.Topics {
			info, err := w.log.Topic(ctx, topic)
			if err != nil {
				return false, err
			}
			committed, err := w.log.CommittedOffsets(ctx, c.cfg.Group, topic)
			if err != nil {
				return false, err
			}
			for _, p := range info.Partitions {
				if p.LastOffset >= 0 && committed[p.Partition] < p.LastOffset {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

func (w *Worker) scratchDir(name string, task int) string {
	if w.opts.DataDir == "" {
		return ""
	}
	dir := filepath.Join(w.opts.DataDir, "connectors", name, fmt.Sprint(task))
	_ = os.MkdirAll(dir, 0o750)
	return dir
}
