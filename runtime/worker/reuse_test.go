package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/worker"
)

// reuseSource holds its values in a few buffers it overwrites and hands out
// again as soon as Ack covers their records, as sdk.Source allows: what
// the worker stores must be a copy made before the Ack.
type reuseSource struct {
	total, batch int
	mu           sync.Mutex
	next         int
	free         [][]byte
	lent         []lent
}

type lent struct {
	n   int
	buf []byte
}

func reuseValue(n int) []byte { return fmt.Appendf(nil, `{"n":%d,"pad":"%064d"}`, n, n) }

func (s *reuseSource) Open(context.Context, sdk.Position) error {
	for range 3 * s.batch {
		s.free = append(s.free, make([]byte, 0, 128))
	}
	return nil
}

func (s *reuseSource) Read(context.Context) ([]sdk.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == s.total {
		return nil, sdk.ErrBackoff
	}
	var recs []sdk.Record
	for len(recs) < s.batch && s.next < s.total && len(s.free) > 0 {
		b := append(s.free[len(s.free)-1][:0], reuseValue(s.next)...)
		s.free = s.free[:len(s.free)-1]
		s.lent = append(s.lent, lent{s.next, b})
		r := sdk.Record{Value: b, Position: sdk.Position(strconv.Itoa(s.next))}
		if s.next%7 == 0 {
			r.Err = errors.New("reuse: a record the source could not parse")
		}
		recs = append(recs, r)
		s.next++
	}
	if len(recs) == 0 {
		return nil, sdk.ErrBackoff // every buffer is with the worker
	}
	return recs, nil
}

func (s *reuseSource) Ack(_ context.Context, pos sdk.Position) error {
	upto, err := strconv.Atoi(string(pos))
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.lent) > 0 && s.lent[0].n <= upto {
		b := s.lent[0].buf
		for i := range b {
			b[i] = 'X' // what the worker kept of it would now be garbage
		}
		s.free = append(s.free, b)
		s.lent = s.lent[1:]
	}
	return nil
}

func (s *reuseSource) Close(context.Context) error { return nil }

// TestSourceMayReuseValuesAfterAck: a source that scribbles over each value
// once Ack covers it and reads the next records into the same memory still
// gets every record stored intact — in its topic, in the topic a transform
// routes it to, and in the dead-letter topic.
func TestSourceMayReuseValuesAfterAck(t *testing.T) {
	const total = 2000
	plugin := sdk.Plugin{Spec: sdk.Spec{Name: "reuse", Kind: sdk.KindSource, Summary: "test"},
		NewSource: func(sdk.Config, sdk.Env) (sdk.Source, error) { return &reuseSource{total: total, batch: 10}, nil }}
	e := start(t, t.TempDir(), plugin)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := e.w.Put(ctx, worker.ConnectorConfig{Name: "reuse", Kind: sdk.KindSource, Plugin: "reuse", Topic: "reused",
		Converter:  worker.ConverterConfig{Type: "json"},
		Transforms: []worker.TransformConfig{{Type: "route", Config: map[string]any{"condition": "int(value.n) % 3 == 0", "topic": "reused-3"}}},
		Errors:     worker.ErrorPolicy{Tolerance: worker.ToleranceAll, DeadLetterTopic: "reused-dlq"}}); err != nil {
		t.Fatal(err)
	}
	var want [3][]int // reused, reused-3, reused-dlq
	for n := range total {
		switch {
		case n%7 == 0:
			want[2] = append(want[2], n)
		case n%3 == 0:
			want[1] = append(want[1], n)
		default:
			want[0] = append(want[0], n)
		}
	}
	for i, topic := range []string{"reused", "reused-3", "reused-dlq"} {
		waitUntil(t, "every record in "+topic, func() bool {
			info, err := e.log.Topic(ctx, topic)
			return err == nil && info.Partitions[0].LastOffset >= int64(len(want[i])-1)
		})
		for j, r := range readExactly(ctx, t, e.log, topic, len(want[i])) {
			if !bytes.Equal(r.Value, reuseValue(want[i][j])) {
				t.Fatalf("%s offset %d: value %q, want %q", topic, r.Offset, r.Value, reuseValue(want[i][j]))
			}
		}
	}
}
