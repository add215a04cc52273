// Package log is Braid's partitioned log: topics, partitions, produce, consume
// and consumer-group offsets, built on NATS JetStream. No JetStream type leaks
// through its API.
//
// A topic is one JetStream stream; partition n of topic t is the subject
// braid.t.<t>.<n>. Records are stored in batches, many records per JetStream
// message, and offsets are dense, as in Kafka: in each partition the first
// record ever written has offset 0 and each next record the previous offset
// + 1. Every message carries the offset of its first record (Braid-Offset)
// and its record count (Braid-Batch), so a reader can start in the middle of
// a batch and a partition's end is read in O(1) from its last message.
// Topics created with Batching off store one record per message, which
// NATS-native clients can read directly (writes must go through Braid, which
// assigns the offsets).
//
// # Writing with dense offsets
//
// A writer knows each partition's tail (the stream sequence of its last
// message and the next offset) and publishes with
// Nats-Expected-Last-Subject-Sequence, so the server refuses a message when
// anything else was appended to the partition meanwhile; the writer then
// reads the tail again from the stream leader and retries. Several
// producers, processes and workers can therefore write to one partition and
// offsets never collide, skip or go backwards, with no timing involved.
// The server allows one such check in flight per subject, so a process has
// one message in flight per partition (its turn); throughput comes from
// large batches. Where retention removed every message of a partition, its
// end comes from the braid_ends bucket, which writers of such topics update
// off the write path at most every 100 ms. Topics carry their storage
// format (Format) and a topic in another format is refused with
// ErrTopicFormat.
//
// # Storage
//
// The stream is named braid_t_<topic>; its TopicConfig is kept as JSON in the
// stream metadata (and in the description, for servers before 2.10), so
// Topic and EnsureTopic are exact. Topic names are letters, digits, '_' and
// '-': a '.' would split the NATS subject. A batch message carries the record
// count in the Braid-Batch header and a compact binary body (varint lengths,
// timestamps as deltas), s2-compressed when that saves an eighth. Batches are
// split at MaxBatchRecords records or ~1 MiB (less when the server's max
// payload is smaller). A single record may be up to ~4 MiB: topics refuse
// bigger messages, so one message always fits in a reader's buffer.
//
// # Producing
//
// Producer.Publish assigns partitions (an explicit Partition, else Kafka's
// murmur2 of the key, else round-robin), encodes one message per partition
// chunk and publishes asynchronously, one message in flight per partition
// (above); it blocks while a partition's previous message awaits its
// acknowledgement or MaxInFlight messages do. Batch.MsgID becomes Nats-Msg-Id
// "<MsgID>-<partition>-<chunk>" on each message, so replaying the same batch
// after a crash is dropped by the server's duplicate window (2 minutes, or
// the retention if shorter) and acknowledged with the original offsets.
// Batch.Meta and the producer id travel as headers. A full topic with DiscardReject fails the batch with ErrTopicFull.
//
// # Reading
//
// A Reader streams one partition through an ordered consumer (ephemeral,
// unacknowledged, recreated after gaps and reconnects) and keeps at most
// 4 MiB in flight plus ~1 MiB of records decoded ahead by a goroutine,
// however far behind it is. Fetch waits up to maxWait for the first record,
// then takes only what is already decoded, without timers: a sub-millisecond
// wait costs a whole millisecond on an idle Go process. Seeking to an
// offset is a binary search over the partition's messages by their first
// offsets; an offset below the partition's first (removed by retention) or
// beyond its end fails with an *OffsetRangeError naming both.
//
// # Offsets
//
// Group offsets live in the KV bucket braid_offsets under
// <group>.<topic>.<partition> (escaped). Committed means processed: resume at
// committed+1. Lag is the partition's end − (committed + 1): exact at any
// depth, two reads per partition.
//
// # KV
//
// KV wraps a JetStream key-value bucket. Keys may be any non-empty string:
// bytes NATS does not allow in keys are escaped as =XX (EscapeKey).
package log
