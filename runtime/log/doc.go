// Package log is Braid's partitioned log: topics, partitions, produce, consume
// and consumer-group offsets, built on NATS JetStream. No JetStream type leaks
// through its API.
//
// A topic is one JetStream stream; partition n of topic t is the subject
// braid.t.<t>.<n>. Records are stored in batches, many records per JetStream
// message, and each record is addressed by its own offset:
//
//	offset = stream sequence << 16 | index of the record in its batch
//
// so offsets increase within a partition (with gaps) and a reader can start in
// the middle of a batch. Topics created with Batching off store one record per
// message (index 0), which NATS-native clients can read and write directly.
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
// chunk and publishes asynchronously; it blocks while MaxInFlight messages
// await acknowledgement. Batch.MsgID becomes Nats-Msg-Id
// "<MsgID>-<partition>-<chunk>" on each message, so replaying the same batch
// after a crash is dropped by the server's duplicate window (2 minutes, or
// the retention if shorter) and acknowledged with the original offsets.
// Batch.Meta and the producer id travel as headers; LastMeta scans headers
// only. A full topic with DiscardReject fails the batch with ErrTopicFull.
//
// # Reading
//
// A Reader streams one partition through an ordered consumer (ephemeral,
// unacknowledged, recreated after gaps and reconnects) and keeps at most
// 4 MiB in flight plus ~1 MiB of records decoded ahead by a goroutine,
// however far behind it is. Fetch waits up to maxWait for the first record,
// then takes only what is already decoded, without timers: a sub-millisecond
// wait costs a whole millisecond on an idle Go process. Offsets before the
// partition's first record (removed by retention) start at the first record
// still stored.
//
// # Offsets
//
// Group offsets live in the KV bucket braid_offsets under
// <group>.<topic>.<partition> (escaped). Committed means processed: resume at
// committed+1. Lag counts records exactly for backlogs up to 1,000 stored
// messages (headers only) and extrapolates beyond that from the average
// records per message it read; unbatched topics are always exact.
//
// # KV
//
// KV wraps a JetStream key-value bucket. Keys may be any non-empty string:
// bytes NATS does not allow in keys are escaped as =XX (EscapeKey).
package log
