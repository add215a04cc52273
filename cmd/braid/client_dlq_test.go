package main

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/runtime/api"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

func TestParseOffsets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []int64
		err  string
	}{
		{[]string{"3"}, []int64{3}, ""},
		{[]string{"1", "4-6"}, []int64{1, 4, 5, 6}, ""},
		{[]string{"x"}, nil, "want a number"},
		{[]string{"5-2"}, nil, "want a number"},
		{[]string{"-1"}, nil, "want a number"},
		{[]string{"0-100000"}, nil, "at most 1000"},
	} {
		got, err := parseOffsets(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseOffsets(%v): %v, want an error with %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseOffsets(%v) = %v, %v; want %v", tc.args, got, err, tc.want)
		}
	}
}

func TestDLQReplayCommand(t *testing.T) {
	t.Parallel()
	eng := startTestEngine(t, builtin.Plugins(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := api.New(eng, api.Options{Addr: "127.0.0.1:0", Token: "dlq-token"})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"orders", "orders-dlq"} {
		if err := eng.Log.EnsureTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	p := eng.Log.Producer(log.ProducerOptions{})
	defer func() { _ = p.Close(ctx) }()
	pend, err := p.Publish(ctx, log.Batch{Topic: "orders-dlq", Records: []log.Record{{Value: []byte(`{"id":1}`), Partition: 0,
		Headers: []log.Header{{Key: worker.HeaderDLQTopic, Value: "orders"}, {Key: worker.HeaderDLQPartition, Value: "0"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pend.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := braidCLI(t, "dlq", "replay", "orders-dlq", "0", "--server", "http://"+srv.Addr(), "--token", "dlq-token")
	if err != nil || !strings.Contains(out, "orders") {
		t.Fatalf("braid dlq replay: %v\n%s", err, out)
	}
	_, end, err := eng.Log.PartitionOffsets(ctx, "orders", 0)
	if err != nil || end != 1 {
		t.Fatalf("orders after the replay: end %d, %v", end, err)
	}
	if out, err := braidCLI(t, "dlq", "replay", "orders-dlq", "5", "--server", "http://"+srv.Addr(), "--token", "dlq-token"); err == nil ||
		!strings.Contains(err.Error()+out, "no record at offset 5") {
		t.Errorf("replay of a missing offset: %v\n%s", err, out)
	}
}
