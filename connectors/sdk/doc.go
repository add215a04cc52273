// Package sdk is the public contract between Braid and its connectors.
//
// A source connector implements Source: Braid opens it at the position it last
// acknowledged, reads batches of Records, publishes them to the log and calls Ack
// with the position of the last record the log has durably stored; input it
// cannot parse it hands over as a Record with Err set (the worker's error
// policy then dead-letters it or fails the task), never dropping it. A sink
// connector implements Sink: Braid hands it batches read from the log, calls
// Flush when it wants them durable and commits the log offsets only after Flush
// returned. Optional capabilities are small extra interfaces (OffsetTracker,
// SchemaProvider, Snapshotter, IncrementalSnapshotter) checked with a type
// assertion.
//
// Every connector declares a Spec: its settings with types, defaults, docs and
// validation. The same Spec validates pipeline files (errors name the field),
// generates the connector's docs page and answers GET /connector-plugins.
//
// Package sdktest holds the conformance suite every connector passes.
package sdk
