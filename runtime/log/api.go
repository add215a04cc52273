package log

import (
	"errors"
	"time"
)

// MaxBatchRecords is the most records one stored batch can hold.
const MaxBatchRecords = 1 << 16

// Format is the storage format of the topics this build writes and reads:
// 2 = dense offsets (each message names its first record's offset in its
// partition). Topics in another format are refused with ErrTopicFormat.
const Format = 2

// MaxRecordBytes is the largest record (key, value and headers) a topic
// stores: one stored message must fit in a reader's buffer.
const MaxRecordBytes = maxMessageBytes - 16<<10

// MaxPartitions is the most partitions a topic can have.
const MaxPartitions = maxPartitions

// Special starting points for readers.
const (
	Earliest int64 = -2
	Latest   int64 = -1
)

// Discard says what a full topic does with new records.
type Discard string

const (
	// DiscardReject refuses new records when the topic is full: backpressure.
	DiscardReject Discard = "reject"
	// DiscardOld deletes the oldest records to make room.
	DiscardOld Discard = "old"
)

// TopicConfig configures a topic.
type TopicConfig struct {
	Partitions int           `json:"partitions"`
	Retention  time.Duration `json:"retention,omitempty"` // 0: keep forever
	MaxBytes   int64         `json:"max_bytes,omitempty"` // 0: unbounded
	Replicas   int           `json:"replicas,omitempty"`  // 0: 1
	Discard    Discard       `json:"discard,omitempty"`   // "": reject
	// Batching stores many records per message (the default, true). False
	// stores one record per message for NATS-native interoperability.
	Batching *bool `json:"batching,omitempty"`
	// Compression of stored batches: "none" or "s2" (default "s2" when it pays).
	Compression string `json:"compression,omitempty"`
}

// PartitionInfo describes one partition.
type PartitionInfo struct {
	Partition   int32 `json:"partition"`
	FirstOffset int64 `json:"first_offset"` // -1 when empty
	LastOffset  int64 `json:"last_offset"`  // -1 when empty
	EndOffset   int64 `json:"end_offset"`   // the offset the next record gets (the high watermark)
	Messages    int64 `json:"messages"`     // stored JetStream messages (batches)
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string          `json:"name"`
	Config     TopicConfig     `json:"config"`
	Bytes      uint64          `json:"bytes"`
	Messages   uint64          `json:"messages"`
	Partitions []PartitionInfo `json:"partition_info"`
	Created    time.Time       `json:"created"`
}

// Header is one record header.
type Header struct {
	Key   string
	Value string
}

// Record is one record as stored in the log.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
	// Partition: set by Produce (or by the caller to choose one; -1 lets the
	// partitioner choose) and by readers.
	Partition int32
	// Offset: set by Produce results and by readers.
	Offset int64
}

// Errors matched with errors.Is.
var (
	ErrTopicNotFound     = errors.New("topic not found")
	ErrTopicExists       = errors.New("topic already exists")
	ErrInvalidTopicName  = errors.New("invalid topic name")
	ErrInvalidConfig     = errors.New("invalid topic config")
	ErrTopicFull         = errors.New("topic is full")
	ErrKeyNotFound       = errors.New("key not found")
	ErrKeyExists         = errors.New("key exists")
	ErrWrongRevision     = errors.New("wrong revision")
	ErrOffsetOutOfRange  = errors.New("offset out of range")
	ErrClosed            = errors.New("log closed")
	ErrTopicFormat       = errors.New("topic in an unsupported storage format")
	ErrPartitionNotFound = errors.New("partition not found")
)
