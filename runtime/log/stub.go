package log

// This file holds the API surface with placeholder bodies; the implementation
// replaces it file by file (topics.go, produce.go, consume.go, offsets.go, kv.go).

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/braidhq/braid/runtime/natsd"
)

var errTODO = errors.New("log: not implemented yet")

// Options configures a Log.
type Options struct {
	Logger *slog.Logger
	// Replicas is the default replica count for new topics and buckets (1 embedded, 3 on a cluster).
	Replicas int
}

// Log is the handle on the partitioned log.
type Log struct{}

// Open returns the log over a NATS connection.
func Open(ctx context.Context, conn *natsd.Conn, opts Options) (*Log, error) { return nil, errTODO }

// Close stops producers and readers opened from the log (not the connection).
func (l *Log) Close() error { return errTODO }

// CreateTopic creates a topic; ErrTopicExists when it exists.
func (l *Log) CreateTopic(ctx context.Context, name string, cfg TopicConfig) error { return errTODO }

// EnsureTopic creates the topic or updates what may change (retention, bytes, discard; partitions may only grow).
func (l *Log) EnsureTopic(ctx context.Context, name string, cfg TopicConfig) error { return errTODO }

// UpdateTopic changes retention, max bytes and discard policy.
func (l *Log) UpdateTopic(ctx context.Context, name string, cfg TopicConfig) error { return errTODO }

// DeleteTopic deletes a topic and its records.
func (l *Log) DeleteTopic(ctx context.Context, name string) error { return errTODO }

// Topic describes a topic.
func (l *Log) Topic(ctx context.Context, name string) (TopicInfo, error) { return TopicInfo{}, errTODO }

// Topics lists every topic.
func (l *Log) Topics(ctx context.Context) ([]TopicInfo, error) { return nil, errTODO }

// ProducerOptions configures a Producer.
type ProducerOptions struct {
	// ID names the producer; stored with each batch so LastMeta can find it.
	ID string
	// MaxInFlight bounds stored-but-unacknowledged messages (default 256).
	MaxInFlight int
}

// Batch is what one Publish call stores.
type Batch struct {
	Topic   string
	Records []Record // Partition -1: key → murmur2 partition, no key → round-robin
	// MsgID makes the publish idempotent within the duplicate window; the log
	// derives one id per stored message from it.
	MsgID string
	// Meta is stored with every message of the batch (e.g. a source position)
	// and returned by LastMeta.
	Meta []Header
}

// Producer publishes batches with a bounded in-flight window.
type Producer struct{}

// Pending is a published batch awaiting acknowledgement.
type Pending struct{}

// Producer returns a new producer.
func (l *Log) Producer(opts ProducerOptions) *Producer { return &Producer{} }

// Publish stores a batch asynchronously; it blocks while the window is full.
func (p *Producer) Publish(ctx context.Context, b Batch) (*Pending, error) { return nil, errTODO }

// Flush waits until everything published so far is acknowledged.
func (p *Producer) Flush(ctx context.Context) error { return errTODO }

// Close flushes within ctx and releases the producer.
func (p *Producer) Close(ctx context.Context) error { return errTODO }

// Done is closed when the batch is acknowledged or failed.
func (p *Pending) Done() <-chan struct{} { return nil }

// Wait returns the batch's records with Partition and Offset set, or the error.
func (p *Pending) Wait(ctx context.Context) ([]Record, error) { return nil, errTODO }

// LastMeta returns the Meta of the last batch the producer id stored in the
// topic after stream sequence afterSeq (0: scan all), and that message's
// sequence. found is false when there is none.
func (l *Log) LastMeta(ctx context.Context, topic, producerID string, afterSeq uint64) (meta []Header, seq uint64, found bool, err error) {
	return nil, 0, false, errTODO
}

// Reader reads one partition in order.
type Reader struct{}

// NewReader opens a reader at offset from (or Earliest / Latest).
func (l *Log) NewReader(ctx context.Context, topic string, partition int32, from int64) (*Reader, error) {
	return nil, errTODO
}

// Fetch returns up to max records (bounded also by maxBytes), waiting up to
// maxWait for the first one; an empty result is not an error.
func (r *Reader) Fetch(ctx context.Context, max int, maxBytes int, maxWait time.Duration) ([]Record, error) {
	return nil, errTODO
}

// Seek moves the reader to an offset (or Earliest / Latest).
func (r *Reader) Seek(ctx context.Context, offset int64) error { return errTODO }

// Close releases the reader.
func (r *Reader) Close() error { return errTODO }

// OffsetForTime returns the first offset at or after t.
func (l *Log) OffsetForTime(ctx context.Context, topic string, partition int32, t time.Time) (int64, error) {
	return 0, errTODO
}

// CommitOffset stores the last processed offset of a partition for a group.
func (l *Log) CommitOffset(ctx context.Context, group, topic string, partition int32, offset int64) error {
	return errTODO
}

// CommittedOffsets returns the group's committed offsets for a topic.
func (l *Log) CommittedOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	return nil, errTODO
}

// DeleteOffsets forgets a group's offsets for a topic.
func (l *Log) DeleteOffsets(ctx context.Context, group, topic string) error { return errTODO }

// Lag returns, per partition, how many records the group has not processed.
func (l *Log) Lag(ctx context.Context, group, topic string) (map[int32]int64, error) {
	return nil, errTODO
}

// Groups lists consumer groups with committed offsets.
func (l *Log) Groups(ctx context.Context) ([]string, error) { return nil, errTODO }

// KV is a key-value bucket for Braid's state.
type KV struct{}

// Entry is one KV value.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Deleted  bool
}

// KV opens (creating when missing) a bucket.
func (l *Log) KV(ctx context.Context, bucket string) (*KV, error) { return nil, errTODO }

// Get returns a key; ErrKeyNotFound when absent.
func (kv *KV) Get(ctx context.Context, key string) (Entry, error) { return Entry{}, errTODO }

// Put sets a key and returns its revision.
func (kv *KV) Put(ctx context.Context, key string, value []byte) (uint64, error) { return 0, errTODO }

// Create sets a key only when absent; ErrKeyExists otherwise.
func (kv *KV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return 0, errTODO
}

// Update sets a key only at the given revision; ErrWrongRevision otherwise.
func (kv *KV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	return 0, errTODO
}

// Delete removes a key.
func (kv *KV) Delete(ctx context.Context, key string) error { return errTODO }

// Keys lists keys with the prefix.
func (kv *KV) Keys(ctx context.Context, prefix string) ([]string, error) { return nil, errTODO }

// Watch streams changes to keys with the prefix (current values first) until ctx ends.
func (kv *KV) Watch(ctx context.Context, prefix string) (<-chan Entry, error) { return nil, errTODO }
