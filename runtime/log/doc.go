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
package log
