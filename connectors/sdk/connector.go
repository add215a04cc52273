package sdk

import (
	"context"
	"log/slog"

	"github.com/braidhq/braid/schema"
)

// Source reads records from an external system.
//
// The worker calls Open once, then Read in a loop; it calls Ack, in order, with
// the Position of the last record of each batch the log has acknowledged, and
// Close when the task stops. Read blocks until it has at least one record, the
// context ends, or it returns ErrEndOfInput (a finite source is done) or
// ErrBackoff (nothing now, ask again later).
//
// Ack is called from another goroutine than Read and may run while Read blocks
// (a webhook answers its client on Ack), so a source must allow the two
// concurrently. ErrEndOfInput may come with a last batch of records.
//
// Records belong to the worker from Read until Ack covers their position:
// the source must not change them meanwhile. Once Ack covered a record, the
// worker keeps nothing of its Key and Value (what it stores, it copied), so
// a source may reuse their memory for later records. Positions are not
// covered: the worker keeps the last one it acknowledged.
type Source interface {
	Open(ctx context.Context, pos Position) error
	Read(ctx context.Context) ([]Record, error)
	Ack(ctx context.Context, pos Position) error
	Close(ctx context.Context) error
}

// Sink writes records to an external system.
//
// Write may buffer; Flush makes everything written so far durable. The worker
// commits log offsets only after Flush returned nil, so a sink that loses
// buffered records on a crash loses nothing. Write returns a *BatchError to
// reject single records (they go to the dead-letter topic) and keep the rest;
// the worker deals with them before it calls Write or Flush again.
//
// The worker flushes before a clean stop, so Close may abandon whatever was
// written after the last successful Flush: after a failed Write (with
// errors.tolerance none, a rejected record fails the task) those records were
// not committed and are read again.
type Sink interface {
	Open(ctx context.Context) error
	Write(ctx context.Context, records []Record) error
	Flush(ctx context.Context) error
	Close(ctx context.Context) error
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// OffsetTracker is implemented by sinks that can tell, after a crash, which
// offsets they have already written durably (for example from file names).
// The worker resumes each partition after the larger of its committed offset
// and the one the sink reports, so a replay never writes a record twice.
//
// The worker also skips what the sink reports, so a sink must never report an
// offset it did not write: only what a successful Flush covered (a rejected
// record only once a later Flush covers it, which the worker calls after it
// dealt with the record), and nothing written after the last Flush when it
// was closed without one. sdktest.RunSink checks this.
type OffsetTracker interface {
	// WrittenOffsets returns the last offset durably written per partition;
	// partitions the sink knows nothing of are left out.
	WrittenOffsets(ctx context.Context, parts []TopicPartition) (map[TopicPartition]int64, error)
}

// SchemaProvider is implemented by sources that know their records' schemas
// before reading (databases, CSV with typed headers).
type SchemaProvider interface {
	Schemas(ctx context.Context) ([]SchemaInfo, error)
}

// SchemaInfo ties a schema to the topic it is published on.
type SchemaInfo struct {
	Topic  string
	Schema *schema.Schema
}

// FieldsSink is implemented by sinks that read every record's fields
// (databases, Parquet, email). The worker then decodes records as soon as it
// reads them from the log, on the partition's reader goroutine, so decoding
// overlaps the sink's writes instead of adding to them.
type FieldsSink interface {
	NeedsFields()
}

// NotReplayable is implemented by sources that cannot hand a record out again
// after a crash, such as a webhook (its client retries instead, so delivery
// is at-least-once whatever Braid does). The worker skips the cost of storing
// their batches all-or-nothing, which buys exactly-once only for sources that
// can replay from a position.
type NotReplayable interface {
	NotReplayable()
}

// Deleter is implemented by connectors that keep state in the external
// system which deleting the connector should remove (a replication slot).
// When a connector is deleted — not when it is stopped, paused, updated or
// moved to another worker — the worker calls Deleted on a new instance that
// was never opened, after every task stopped. An error is logged and the
// delete goes on.
type Deleter interface {
	Deleted(ctx context.Context) error
}

// Snapshotter is implemented by sources that start with a full read of existing
// data; Progress reports it for the API and logs.
type Snapshotter interface {
	Progress() Progress
}

// Progress of a long read: Done of Total units (Total 0 when unknown), and
// per table for sources that read tables (an incremental snapshot).
type Progress struct {
	Phase  string          `json:"phase"`
	Done   int64           `json:"done"`
	Total  int64           `json:"total"`
	Tables []TableProgress `json:"tables,omitempty"`
}

// TableProgress is one table's part of a snapshot: Done of Total rows
// (Total is the database's estimate), State queued, running or done.
type TableProgress struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

// IncrementalSnapshotter is implemented by sources that can read chosen
// tables again while they go on streaming changes (Debezium's incremental
// snapshot, Netflix's DBLog), e.g. after a table was added to their tables.
// The worker keeps the requests in the cluster and hands every one of them
// to Snapshot after each Open and whenever a new one arrives; the source
// starts, in ID order, those whose ID is above the last its position says it
// took up, so a request survives a restart however early it comes. Snapshot
// is called concurrently with Read and must return quickly; a table the
// source does not capture is an error naming it.
type IncrementalSnapshotter interface {
	Snapshot(reqs []SnapshotRequest) error
}

// SnapshotRequest asks for an incremental snapshot of Tables (all captured
// tables when empty).
type SnapshotRequest struct {
	ID     uint64   `json:"id"`
	Tables []string `json:"tables,omitempty"`
}

// Store is a small key-value store a connector may use for its own state
// (deduplication keys, cursors). Braid backs it with a JetStream KV bucket, so
// it survives restarts and is shared by every worker of a cluster.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error) // ErrNotFound when absent
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// Env is what the worker gives a connector when it creates one.
type Env struct {
	Logger    *slog.Logger
	Pipeline  string
	Connector string // the connector's name in the pipeline
	Task      int
	Topic     string   // a source's target topic
	Topics    []string // a sink's input topics
	Store     Store
	DataDir   string // a directory private to this connector, for scratch files
	// Gauge, when set, records a named measurement of the connector (a
	// replication slot's retained WAL): the worker shows the latest value
	// in the task's status and exports it as braid_connector_gauge. Call
	// it through SetGauge, which allows an Env without one.
	Gauge func(name string, value float64)
}

// SetGauge records a named measurement through Env.Gauge, if the worker
// gave one. Names are snake_case; keep them few and fixed per connector.
func (e Env) SetGauge(name string, value float64) {
	if e.Gauge != nil {
		e.Gauge(name, value)
	}
}

// Plugin describes one connector type and how to build it.
type Plugin struct {
	Spec      Spec
	NewSource func(cfg Config, env Env) (Source, error) // set for sources
	NewSink   func(cfg Config, env Env) (Sink, error)   // set for sinks
}

// Plugins is a set of connector types. A source and a sink may share a name
// (`connector: file` reads files under sources and writes them under sinks).
type Plugins []Plugin

// Lookup returns the plugin of the given kind and name.
func (ps Plugins) Lookup(kind Kind, name string) (Plugin, bool) {
	for _, p := range ps {
		if p.Spec.Kind == kind && p.Spec.Name == name {
			return p, true
		}
	}
	return Plugin{}, false
}

// Specs returns the specs of one kind by name.
func (ps Plugins) Specs(kind Kind) map[string]Spec {
	out := map[string]Spec{}
	for _, p := range ps {
		if p.Spec.Kind == kind {
			out[p.Spec.Name] = p.Spec
		}
	}
	return out
}
