// Package worker runs connectors: source tasks read from an external system,
// convert and transform records and publish them to the log; sink tasks read
// their assigned partitions from the log, convert and transform, write, flush
// and commit offsets.
//
// Delivery is at-least-once end to end and effectively-once where the pieces
// allow: a source's position is committed only after the log acknowledged its
// records, and every stored batch carries that position in the fence that ends
// its task's writer chain, so after a crash the worker recovers the exact
// position from the log itself (Log.OpenWriter's chain end) and never
// publishes a record twice; a sink commits offsets only after Flush, and a
// sink that can tell what it already wrote (sdk.OffsetTracker) resumes after it.
//
// Errors follow the connector's policy: retries with exponential backoff,
// errors.tolerance none (fail the task) or all (send the record to the
// dead-letter topic with headers naming the stage, connector, task, original
// topic/partition/offset and the error). A source hands input it could not
// parse as a record with sdk.Record.Err set, which goes the same way at stage
// source, before transforms and convert. Failed tasks restart by themselves
// with backoff. All state lives in JetStream KV buckets.
package worker
