package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/braidhq/braid/runtime/natsd"
)

// Options configures a Log.
type Options struct {
	Logger *slog.Logger
	// Replicas is the default replica count for new topics and for every
	// state bucket. 0 picks it from the cluster: 3 where the connection
	// knows of at least 3 servers, else 1.
	Replicas int
	// DuplicateWindow is how long JetStream remembers message ids for
	// deduplication (default 2 minutes).
	DuplicateWindow time.Duration
}

// Log is the handle on the partitioned log.
type Log struct {
	js   jetstream.JetStream
	conn *natsd.Conn
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	closed  bool
	closers map[closer]struct{}

	metaCache metaCache

	offsets lazyKV // braid_offsets

	tailsMu sync.Mutex
	tails   map[string]*partTail // by partition subject

	ends    lazyKV // braid_ends
	endSave endSaver

	atomic bool // the server stores multi-message batches atomically (2.12+)
}

// closer is anything the Log closes on Close: producers and readers.
type closer interface{ closeFromLog() }

// Open returns the log over a NATS connection.
func Open(ctx context.Context, conn *natsd.Conn, opts Options) (*Log, error) {
	if conn == nil || conn.NC == nil {
		return nil, errors.New("open log: nil nats connection")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Replicas <= 0 {
		opts.Replicas = clusterReplicas(conn.NC)
	}
	if opts.DuplicateWindow <= 0 {
		opts.DuplicateWindow = 2 * time.Minute
	}
	js, err := jetstream.New(conn.NC,
		// Producers bound their own window; this only must not be smaller.
		jetstream.WithPublishAsyncMaxPending(1<<16),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		return nil, fmt.Errorf("open log: jetstream unavailable: %w", err)
	}
	return &Log{js: js, conn: conn, opts: opts, log: opts.Logger, closers: map[closer]struct{}{},
		atomic: serverAtLeast(conn.NC.ConnectedServerVersion(), 2, 12)}, nil
}

// Atomic reports whether batches published with Batch.Atomic are stored all
// or nothing. JetStream gained atomic batch publishing in nats-server 2.12;
// against an older server an atomic batch is published message by message.
func (l *Log) Atomic() bool { return l.atomic }

// DuplicateWindow is how long JetStream remembers message ids (at most a
// topic's retention).
func (l *Log) DuplicateWindow() time.Duration { return l.opts.DuplicateWindow }

// serverAtLeast compares a "2.12.1"-style version with major.minor.
func serverAtLeast(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// Close stops producers and readers opened from the log (not the connection).
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	cs := make([]closer, 0, len(l.closers))
	for c := range l.closers {
		cs = append(cs, c)
	}
	l.closers = nil
	l.mu.Unlock()
	for _, c := range cs {
		c.closeFromLog()
	}
	return nil
}

func (l *Log) track(c closer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closers[c] = struct{}{}
	return nil
}

func (l *Log) untrack(c closer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closers != nil {
		delete(l.closers, c)
	}
}

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// apiCode returns the JetStream API error code of err, or 0.
func apiCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

// jsStoreFailed is JetStream's "storing the message failed" code, returned
// with "maximum bytes/messages exceeded" when a DiscardNew stream is full.
const jsStoreFailed jetstream.ErrorCode = 10077

// isFull reports whether a publish error means the stream is full.
func isFull(err error) bool {
	if apiCode(err) == jsStoreFailed {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.Description {
		case "maximum bytes exceeded", "maximum messages exceeded", "maximum messages per subject exceeded":
			return true
		}
	}
	return false
}

// topicMeta is what producers and readers need to know about a topic.
type topicMeta struct {
	partitions int
	batching   bool
	compress   bool
	removes    bool // retention or discard: old may remove a partition's last records
}

type cachedMeta struct {
	m       topicMeta
	expires time.Time
}

// metaCache remembers topic metadata briefly; partitions only grow and
// batching never changes, so a stale entry is harmless for a few seconds.
type metaCache struct {
	mu sync.Mutex
	m  map[string]cachedMeta
}

func (c *metaCache) get(topic string) (topicMeta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[topic]
	if !ok || time.Now().After(e.expires) {
		return topicMeta{}, false
	}
	return e.m, true
}

func (c *metaCache) put(topic string, m topicMeta, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedMeta{}
	}
	c.m[topic] = cachedMeta{m: m, expires: expires}
}

func (c *metaCache) forget(topic string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, topic)
}

// clusterReplicas is the replica count for a cluster of the servers the
// connection knows of (the one it dialled and those the cluster advertises):
// 3 when there are at least 3, so a node can be lost without losing a topic
// or the state, and 1 otherwise.
func clusterReplicas(nc *nats.Conn) int {
	if len(nc.Servers()) >= 3 {
		return 3
	}
	return 1
}

// Replicas returns the default replica count of new topics and buckets.
func (l *Log) Replicas() int { return l.opts.Replicas }
