package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMetrics: requests, errors, records and connections are counted per
// API, and a second server on the same registry shares the series.
func TestMetrics(t *testing.T) {
	l := testLog(t)
	reg := prometheus.NewRegistry()
	s := New(l, Options{Addr: "127.0.0.1:0", Registerer: reg})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s2 := New(l, Options{Addr: "127.0.0.1:0", Registerer: reg})
	if s2.m.requests != s.m.requests {
		t.Fatal("a second server on the registry has its own series")
	}
	topic := newTopic(t, l, 1)
	ctx := ctxT(t, 30*time.Second)
	cl := client(t, s, kgo.DefaultProduceTopic(topic))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Request(ctx, unknownTopicMetadata()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(s.m.requests.WithLabelValues("Produce")); n < 1 {
		t.Errorf("Produce requests: %v", n)
	}
	if n := testutil.ToFloat64(s.m.records.WithLabelValues("produced")); n != 2 {
		t.Errorf("records produced: %v, want 2", n)
	}
	if n := testutil.ToFloat64(s.m.errors.WithLabelValues("Metadata")); n < 1 {
		t.Errorf("Metadata errors: %v (a topic that cannot exist was asked for)", n)
	}
	if n := testutil.ToFloat64(s.m.connections); n < 1 {
		t.Errorf("connections: %v", n)
	}
	if c, err := testutil.GatherAndCount(reg, "braid_kafka_request_seconds"); err != nil || c == 0 {
		t.Errorf("latency histogram: %d series, %v", c, err)
	}
}

// unknownTopicMetadata asks for a topic name Braid refuses, without auto-create.
func unknownTopicMetadata() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("no.such.topic")
	req.Topics = append(req.Topics, rt)
	return req
}
