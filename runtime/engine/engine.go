// Package engine ties Braid's pieces together for one process: it starts the
// embedded NATS server (or connects to a cluster), opens the log, runs a
// worker, and applies pipeline files to it — creating topics and starting,
// restarting or stopping only the connectors whose configuration changed.
// `braid run`, the REST API's PUT /pipelines and live reload all go through
// Apply.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/transform"
	"github.com/braidhq/braid/runtime/worker"
	"github.com/braidhq/braid/schema/convert"
	"github.com/braidhq/braid/schema/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures an Engine.
type Options struct {
	NATS     natsd.Config
	Plugins  sdk.Plugins
	Logger   *slog.Logger
	WorkerID string
	DataDir  string
	// Registry receives the worker's metrics; nil uses a fresh one.
	Registry *prometheus.Registry
	// ConverterEnv is handed to converters (the schema registry client).
	ConverterEnv convert.Env
	// Replicas of new topics and of the state buckets on an external
	// cluster (0: 3 when the cluster has at least 3 servers, else 1).
	Replicas int
}

// Engine is a running Braid process.
type Engine struct {
	Conn     *natsd.Conn
	Log      *log.Log
	Worker   *worker.Worker
	Registry *prometheus.Registry
	Metrics  *worker.Metrics
	// Schemas is the schema registry, stored in the log's KV.
	Schemas *registry.Registry

	opts   Options
	logger *slog.Logger

	mu      sync.Mutex
	current *pipelines.Pipeline
	status  Status
}

// Status is the outcome of the last apply, shown by GET /pipelines.
type Status struct {
	File    string   `json:"file,omitempty"`
	Applied bool     `json:"applied"`
	Errors  []string `json:"errors,omitempty"`
	Changes string   `json:"changes,omitempty"`
}

// Start connects to NATS, opens the log and starts a worker.
func Start(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	opts.NATS.Logger = opts.Logger
	if opts.NATS.DataDir == "" {
		opts.NATS.DataDir = opts.DataDir
	}
	conn, err := natsd.Start(ctx, opts.NATS)
	if err != nil {
		return nil, err
	}
	replicas := 1
	if !conn.Embedded() {
		replicas = opts.Replicas // 0: the log picks from the cluster's size
	}
	lg, err := log.Open(ctx, conn, log.Options{Logger: opts.Logger, Replicas: replicas})
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("open log: %w", err)
	}
	schemas, err := openRegistry(ctx, lg, opts)
	if err != nil {
		_ = lg.Close()
		_ = conn.Close(context.Background())
		return nil, err
	}
	if opts.ConverterEnv.Registry == nil {
		opts.ConverterEnv.Registry = schemas
	}
	metrics := worker.NewMetrics(opts.Registry)
	w, err := worker.New(ctx, worker.Options{Log: lg, Plugins: opts.Plugins, Logger: opts.Logger,
		WorkerID: opts.WorkerID, DataDir: opts.DataDir, Metrics: metrics, ConverterEnv: opts.ConverterEnv})
	if err != nil {
		_ = lg.Close()
		_ = conn.Close(context.Background())
		return nil, err
	}
	return &Engine{Conn: conn, Log: lg, Worker: w, Registry: opts.Registry, Metrics: metrics, Schemas: schemas,
		opts: opts, logger: opts.Logger}, nil
}

// Catalog returns what pipeline files may name.
func (e *Engine) Catalog() pipelines.Catalog { return Catalog(e.opts.Plugins) }

// Catalog builds the pipeline catalog from connector plugins, the transforms
// and the registered converters.
func Catalog(plugins sdk.Plugins) pipelines.Catalog {
	return pipelines.Catalog{Sources: plugins.Specs(sdk.KindSource), Sinks: plugins.Specs(sdk.KindSink),
		Transforms: transform.Specs(), Converters: convert.Names()}
}

// Current returns the applied pipeline (nil before the first apply).
func (e *Engine) Current() *pipelines.Pipeline {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.current
}

// Status returns the outcome of the last apply.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// Reject records a pipeline file that failed to lint; the running pipeline stays.
func (e *Engine) Reject(file string, lints []pipelines.Lint) {
	msgs := make([]string, len(lints))
	for i, l := range lints {
		msgs[i] = l.String()
	}
	e.mu.Lock()
	e.status = Status{File: file, Applied: false, Errors: msgs}
	e.mu.Unlock()
	e.logger.Error("pipeline file rejected; the running pipeline is unchanged", "file", file, "errors", len(lints))
	for _, m := range msgs {
		e.logger.Error(m)
	}
}

// Apply makes the running connectors match p: it creates or updates topics,
// starts new connectors, restarts changed ones and deletes removed ones.
// With dryRun it only returns the changes.
func (e *Engine) Apply(ctx context.Context, p *pipelines.Pipeline, dryRun bool) (pipelines.Changes, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	changes := pipelines.Diff(e.current, p)
	if dryRun {
		return changes, nil
	}
	err := e.apply(ctx, p, changes)
	e.status = Status{File: p.File, Applied: err == nil, Changes: changes.String()}
	if err != nil {
		e.status.Errors = []string{err.Error()}
		return changes, err
	}
	e.current = p
	return changes, nil
}

func (e *Engine) apply(ctx context.Context, p *pipelines.Pipeline, changes pipelines.Changes) error {
	for _, t := range p.Topics {
		if err := e.Log.EnsureTopic(ctx, t.Name, TopicConfig(t)); err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
	}
	// Stop what went away first, so a renamed connector does not run twice.
	if e.current != nil {
		for _, old := range e.current.Connectors() {
			if p.Connector(old.Name) == nil {
				if err := e.Worker.Delete(ctx, old.Name); err != nil && !errors.Is(err, worker.ErrNotFound) {
					return err
				}
			}
		}
	}
	var errs []error
	for _, c := range p.Connectors() {
		if e.current != nil {
			if old := e.current.Connector(c.Name); old != nil && old.Hash == c.Hash {
				continue
			}
		}
		if err := e.Worker.Put(ctx, WorkerConfig(p, c)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// TopicConfig maps a pipeline topic to the log's config.
func TopicConfig(t pipelines.TopicSpec) log.TopicConfig {
	return log.TopicConfig{Partitions: t.Partitions, Retention: t.Retention, MaxBytes: t.MaxBytes,
		Replicas: t.Replicas, Discard: log.Discard(t.Discard), Batching: t.Batching, Compression: t.Compression}
}

// WorkerConfig maps a pipeline connector to the worker's config.
func WorkerConfig(p *pipelines.Pipeline, c *pipelines.Connector) worker.ConnectorConfig {
	retries := c.Errors.Retries // 0 means none, so it is always given
	wc := worker.ConnectorConfig{
		Name: c.Name, Pipeline: p.Name, Kind: c.Kind, Plugin: c.Plugin, Config: c.Raw,
		Topic: c.Topic, Topics: c.Topics, Tasks: c.Tasks, Group: c.Group, Start: c.Start, BatchSize: c.BatchSize,
		Converter: worker.ConverterConfig{Type: c.Converter.Type, Options: c.Converter.Options},
		Errors: worker.ErrorPolicy{Tolerance: worker.Tolerance(c.Errors.Tolerance), DeadLetterTopic: c.Errors.DeadLetterTopic,
			Retries: &retries, RetryBackoff: c.Errors.RetryBackoff, RetryMaxBackoff: c.Errors.RetryMaxBackoff},
	}
	if wc.Converter.Type == "" {
		topic := c.Topic
		if topic == "" && len(c.Topics) > 0 {
			topic = c.Topics[0]
		}
		if t := p.Topic(topic); t != nil {
			wc.Converter = worker.ConverterConfig{Type: t.Converter.Type, Options: t.Converter.Options}
		}
	}
	for _, t := range c.Transforms {
		wc.Transforms = append(wc.Transforms, worker.TransformConfig{Type: t.Type, Config: t.Raw})
	}
	return wc
}

// Close stops the worker, the log and the connection within ctx.
func (e *Engine) Close(ctx context.Context) error {
	werr := e.Worker.Close(ctx)
	_ = e.Log.Close()
	cerr := e.Conn.Close(ctx)
	return errors.Join(werr, cerr)
}
