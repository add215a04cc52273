// Package httpbench measures the http-webhook source end to end: concurrent
// clients POST JSON-array batches over loopback while a reader drains the
// source with Read and Ack, as the worker does. Each run is
// repeated against a bare net/http handler in the same process, and the
// result carries the ratio of the two.
package httpbench
