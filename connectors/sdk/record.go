package sdk

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/braidhq/braid/schema"
)

// Position is an opaque, connector-defined place in a source: a byte offset, a
// binlog coordinate, a cursor. Braid stores it and hands it back on Open.
type Position []byte

// Operation says what a change event did to its row.
type Operation string

// The operations a change event can carry; empty means a plain record.
const (
	OpCreate   Operation = "create"
	OpUpdate   Operation = "update"
	OpDelete   Operation = "delete"
	OpSnapshot Operation = "snapshot"
)

// Header is one record header. Keys may repeat, as in Kafka.
type Header struct {
	Key   string
	Value string
}

// Headers is an ordered list of record headers.
type Headers []Header

// Get returns the last value set for key.
func (h Headers) Get(key string) (string, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Key == key {
			return h[i].Value, true
		}
	}
	return "", false
}

// Set replaces every value of key with one value.
func (h *Headers) Set(key, value string) {
	h.Del(key)
	*h = append(*h, Header{Key: key, Value: value})
}

// Del removes every value of key.
func (h *Headers) Del(key string) {
	out := (*h)[:0]
	for _, x := range *h {
		if x.Key != key {
			out = append(out, x)
		}
	}
	*h = out
}

// Record is one unit of data moving through Braid.
//
// Value holds the raw bytes. Fields holds the structured view when one is known:
// a source that produces structured data sets Fields (and Schema) and leaves
// Value nil for the worker's converter to encode; on the way into a sink or a
// transform the worker's converter decodes Value into Fields when they are
// needed. Code that changes Fields must set Value to nil so the bytes are
// encoded again.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   Headers
	Timestamp time.Time

	// Position is where a source record came from; sinks see nil.
	Position Position

	// Op is set on change events; Before holds the row before an update or delete.
	Op     Operation
	Before map[string]any

	// Fields is the structured value, nil until a source or converter sets it.
	Fields map[string]any
	// Schema describes Fields when it is known.
	Schema *schema.Schema

	// Err is set by a source that could not turn its input into a proper
	// record (a frame that does not parse, one too long to hold): Value
	// holds the raw bytes (or their start, which Err then says), Headers
	// and Err say where they came from. The worker neither transforms nor
	// converts such a record; it handles it by the connector's error
	// policy at stage "source": under errors.tolerance all it goes to the
	// dead-letter topic and its position is acknowledged like any other,
	// under none the task fails with Err. Sinks never see it set.
	Err error

	decode func([]byte) (map[string]any, *schema.Schema, error)
}

// SetDecoder sets how Structured decodes Value; the worker sets the topic's
// converter so numbers keep their exact types (int64, Decimal) on demand.
func (r *Record) SetDecoder(decode func([]byte) (map[string]any, *schema.Schema, error)) {
	r.decode = decode
}

// Decodable reports whether Value is a structured value a decoder was set
// for: a source may hand its fields already encoded (JSON) with the decoder
// that gives them back, so nobody builds them unless asked.
func (r *Record) Decodable() bool { return r.decode != nil }

// Structured returns the structured value, decoding Value on first use with
// the decoder the worker set (the topic's converter), or as JSON. A tombstone
// (nil Value) returns nil, nil.
func (r *Record) Structured() (map[string]any, error) {
	if r.Fields != nil || r.Value == nil {
		return r.Fields, nil
	}
	if r.decode != nil {
		m, s, err := r.decode(r.Value)
		if err != nil {
			return nil, err
		}
		r.Fields = m
		if r.Schema == nil {
			r.Schema = s
		}
		return m, nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Value, &m); err != nil {
		return nil, fmt.Errorf("value is not a JSON object: %w", err)
	}
	r.Fields = m
	return m, nil
}

// IsTombstone reports whether the record deletes its key.
func (r *Record) IsTombstone() bool {
	return r.Op == OpDelete || (r.Value == nil && r.Fields == nil && r.Key != nil)
}

// Where names the record's place in the log for error messages.
func (r *Record) Where() string {
	if r.Topic == "" {
		return "source record"
	}
	return fmt.Sprintf("topic %q partition %d offset %d", r.Topic, r.Partition, r.Offset)
}

// Clone returns a copy that shares no mutable slices or maps with r.
func (r Record) Clone() Record {
	r.Headers = append(Headers(nil), r.Headers...)
	if r.Fields != nil {
		m := make(map[string]any, len(r.Fields))
		for k, v := range r.Fields {
			m[k] = v
		}
		r.Fields = m
	}
	return r
}
