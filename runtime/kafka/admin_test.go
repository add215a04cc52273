package kafka

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// freshName is a topic name no test has used.
func freshName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, topicSeq.Add(1))
}

// produceOne produces one record and returns its partition and offset.
func produceOne(t *testing.T, s *Server, topic string, partition int32, value string) (int32, int64) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	opts := []kgo.Opt{}
	if partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	p := client(t, s, opts...)
	r := &kgo.Record{Topic: topic, Partition: max(partition, 0), Value: []byte(value)}
	if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return r.Partition, r.Offset
}

// consumeOne reads the record at offset of one partition.
func consumeOne(t *testing.T, s *Server, topic string, partition int32, offset int64) *kgo.Record {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	c := client(t, s, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}}))
	for {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s/%d@%d: %v", topic, partition, offset, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}

// TestCreateTopics creates a topic with configs, checks they land in the
// log and in DescribeConfigs, and produces and consumes a record on it.
func TestCreateTopics(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	adm := kadm.NewClient(client(t, s))
	ctx := ctxT(t, 60*time.Second)
	name := freshName("created")
	configs := map[string]*string{
		"retention.ms": kmsg.StringPtr("3600000"), "retention.bytes": kmsg.StringPtr("1048576"),
		"compression.type": kmsg.StringPtr("uncompressed"), "cleanup.policy": kmsg.StringPtr("delete"),
		"max.message.bytes": kmsg.StringPtr("1000000"),
	}
	resp, err := adm.CreateTopic(ctx, 3, -1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v %s", err, resp.Err, resp.ErrMessage)
	}
	if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 {
		t.Fatalf("created with %d partitions, rf %d; want 3, 1", resp.NumPartitions, resp.ReplicationFactor)
	}
	if c := resp.Configs["retention.ms"]; c.Value == nil || *c.Value != "3600000" {
		t.Fatalf("response config retention.ms = %v", c.Value)
	}
	if c := resp.Configs["max.message.bytes"]; c.Value == nil || *c.Value != fmt.Sprint(log.MaxRecordBytes) {
		t.Fatalf("response config max.message.bytes = %v, want the log's real limit", c.Value)
	}

	cfg, err := l.TopicConfig(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Partitions != 3 || cfg.Retention != time.Hour || cfg.MaxBytes != 3<<20 || cfg.Discard != log.DiscardOld || cfg.Compression != "none" {
		t.Fatalf("log config %+v", cfg)
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(name, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe: %v %v", err, rc.Err)
	}
	want := map[string]string{"retention.ms": "3600000", "retention.bytes": "1048576", "compression.type": "uncompressed",
		"cleanup.policy": "delete", "max.message.bytes": fmt.Sprint(log.MaxRecordBytes), "braid.discard": "old"}
	got := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		got[c.Key] = c
	}
	for k, v := range want {
		if c, ok := got[k]; !ok || c.Value == nil || *c.Value != v {
			t.Errorf("described %s = %v, want %s", k, c.Value, v)
		}
	}
	if got["retention.ms"].Source != kmsg.ConfigSourceDynamicTopicConfig || got["max.message.bytes"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("sources: retention.ms %v, max.message.bytes %v", got["retention.ms"].Source, got["max.message.bytes"].Source)
	}

	p, off := produceOne(t, s, name, 1, "hello")
	if p != 1 || off != 0 {
		t.Fatalf("produced at %d@%d, want 1@0", p, off)
	}
	if r := consumeOne(t, s, name, 1, 0); string(r.Value) != "hello" {
		t.Fatalf("consumed %q", r.Value)
	}
}

// TestCreateTopicsDefaults: -1 partitions and replication mean the defaults,
// a default topic is described with default sources, and ValidateOnly
// creates nothing.
func TestCreateTopicsDefaults(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	adm := kadm.NewClient(client(t, s))
	ctx := ctxT(t, 60*time.Second)

	dry := freshName("dry")
	rs, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, dry)
	if err != nil || rs[dry].Err != nil {
		t.Fatalf("validate: %v %v", err, rs[dry].Err)
	}
	if _, err := l.TopicConfig(ctx, dry); !errors.Is(err, log.ErrTopicNotFound) {
		t.Fatalf("validate-only created the topic: %v", err)
	}

	name := freshName("defaults")
	resp, err := adm.CreateTopic(ctx, -1, -1, nil, name)
	if err != nil || resp.Err != nil || resp.NumPartitions != 1 || resp.ReplicationFactor != 1 {
		t.Fatalf("create: %v %v, %d partitions rf %d", err, resp.Err, resp.NumPartitions, resp.ReplicationFactor)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rcs[0].Configs {
		if c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s: source %v, want DEFAULT_CONFIG", c.Key, c.Source)
		}
		if c.Key == "retention.ms" && *c.Value != "-1" {
			t.Errorf("retention.ms = %s, want -1 (forever)", *c.Value)
		}
	}
	rs, err = adm.ValidateCreateTopics(ctx, 1, 1, nil, name)
	if err != nil || !errors.Is(rs[name].Err, kerr.TopicAlreadyExists) {
		t.Fatalf("validate an existing topic: %v %v", err, rs[name].Err)
	}
}

// TestCreateTopicsErrors: every refusal carries Kafka's error code and a
// message naming the problem, and creates nothing.
func TestCreateTopicsErrors(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	adm := kadm.NewClient(client(t, s))
	ctx := ctxT(t, 60*time.Second)
	existing := newTopic(t, l, 1)
	str := kmsg.StringPtr
	cases := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       *kerr.Error
		msg        string
	}{
		{"exists", existing, 1, -1, nil, kerr.TopicAlreadyExists, "exists"},
		{"dot", "orders.v1", 1, -1, nil, kerr.InvalidTopicException, "'.' is not allowed"},
		{"character", "bad name", 1, -1, nil, kerr.InvalidTopicException, "allowed are letters"},
		{"too long for Kafka", strings.Repeat("a", 250), 1, -1, nil, kerr.InvalidTopicException, "at most 249"},
		{"too long for Braid", strings.Repeat("a", 201), 1, -1, nil, kerr.InvalidTopicException, "longer than 200"},
		{"zero partitions", freshName("p0"), 0, -1, nil, kerr.InvalidPartitions, "partitions 0"},
		{"too many partitions", freshName("p"), 10000, -1, nil, kerr.InvalidPartitions, "partitions 10000"},
		{"replication", freshName("rf"), 1, 3, nil, kerr.InvalidReplicationFactor, "replication factor 3"},
		{"replication zero", freshName("rf"), 1, 0, nil, kerr.InvalidReplicationFactor, "replication factor 0"},
		{"compaction", freshName("c"), 1, -1, map[string]*string{"cleanup.policy": str("compact")}, kerr.InvalidConfig, "compaction is not supported"},
		{"compact,delete", freshName("c"), 1, -1, map[string]*string{"cleanup.policy": str("compact,delete")}, kerr.InvalidConfig, "compaction is not supported"},
		{"unknown config", freshName("u"), 1, -1, map[string]*string{"segment.bytes": str("1024")}, kerr.InvalidConfig, "segment.bytes"},
		{"big max.message.bytes", freshName("m"), 1, -1, map[string]*string{"max.message.bytes": str("104857600")}, kerr.InvalidConfig, "at most"},
		{"bad retention.ms", freshName("r"), 1, -1, map[string]*string{"retention.ms": str("soon")}, kerr.InvalidConfig, "retention.ms"},
		{"short retention.ms", freshName("r"), 1, -1, map[string]*string{"retention.ms": str("5")}, kerr.InvalidConfig, "at least 100"},
		{"zero retention.bytes", freshName("r"), 1, -1, map[string]*string{"retention.bytes": str("0")}, kerr.InvalidConfig, "retention.bytes"},
		{"huge retention.bytes", freshName("r"), 4, -1, map[string]*string{"retention.bytes": str("9223372036854775807")}, kerr.InvalidConfig, "too large"},
		{"codec", freshName("z"), 1, -1, map[string]*string{"compression.type": str("zstd")}, kerr.InvalidConfig, "s2"},
		{"discard", freshName("d"), 1, -1, map[string]*string{"braid.discard": str("sometimes")}, kerr.InvalidConfig, "reject"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := adm.CreateTopic(ctx, c.partitions, c.rf, c.configs, c.topic)
			if err != nil && resp.Err == nil {
				t.Fatal(err)
			}
			if !errors.Is(resp.Err, c.want) || !strings.Contains(resp.ErrMessage, c.msg) {
				t.Fatalf("got %v %q, want %v with %q", resp.Err, resp.ErrMessage, c.want, c.msg)
			}
			if c.topic != existing && log.ValidateTopicName(c.topic) == nil {
				if _, err := l.TopicConfig(ctx, c.topic); !errors.Is(err, log.ErrTopicNotFound) {
					t.Fatalf("a refused topic exists: %v", err)
				}
			}
		})
	}

	// A name given twice in one request refuses both entries.
	cl := client(t, s)
	req := kmsg.NewPtrCreateTopicsRequest()
	twice := freshName("twice")
	for range 2 {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = twice, 1, -1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("a name given twice: %v", kerr.ErrorForCode(rt.ErrorCode))
		}
	}
}

// TestDeleteTopics deletes a topic; Metadata no longer lists it, and
// unknown or invalid names are UNKNOWN_TOPIC_OR_PARTITION.
func TestDeleteTopics(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	adm := kadm.NewClient(client(t, s))
	ctx := ctxT(t, 60*time.Second)
	name := newTopic(t, l, 2)
	produceOne(t, s, name, 0, "doomed")

	rs, err := adm.DeleteTopics(ctx, name, "never_created", "not.valid")
	if err != nil {
		t.Fatal(err)
	}
	if rs[name].Err != nil {
		t.Fatalf("delete: %v", rs[name].Err)
	}
	for _, n := range []string{"never_created", "not.valid"} {
		if !errors.Is(rs[n].Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("delete %s: %v, want UNKNOWN_TOPIC_OR_PARTITION", n, rs[n].Err)
		}
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has(name) {
		t.Fatalf("Metadata still lists %s", name)
	}
	if _, err := l.TopicConfig(ctx, name); !errors.Is(err, log.ErrTopicNotFound) {
		t.Fatalf("the log still has the topic: %v", err)
	}
}

// TestCreatePartitions grows a topic; the new partitions start at offset 0,
// and shrinking, staying equal or unknown topics are refused.
func TestCreatePartitions(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	adm := kadm.NewClient(client(t, s))
	ctx := ctxT(t, 60*time.Second)
	name := newTopic(t, l, 1)
	produceOne(t, s, name, 0, "before")

	rs, err := adm.ValidateCreatePartitions(ctx, 2, name)
	if err != nil || rs[name].Err != nil {
		t.Fatalf("validate: %v %v", err, rs[name].Err)
	}
	if n, _ := l.Partitions(ctx, name); n != 1 {
		t.Fatalf("validate-only changed the count to %d", n)
	}
	rs, err = adm.CreatePartitions(ctx, 2, name)
	if err != nil || rs[name].Err != nil {
		t.Fatalf("create partitions: %v %v %s", err, rs[name].Err, rs[name].ErrMessage)
	}
	if n, err := l.Partitions(ctx, name); err != nil || n != 3 {
		t.Fatalf("partitions: %d %v, want 3", n, err)
	}
	if p, off := produceOne(t, s, name, 2, "new"); p != 2 || off != 0 {
		t.Fatalf("produced to the new partition at %d@%d, want 2@0", p, off)
	}
	if r := consumeOne(t, s, name, 2, 0); string(r.Value) != "new" {
		t.Fatalf("consumed %q", r.Value)
	}
	if r := consumeOne(t, s, name, 0, 0); string(r.Value) != "before" {
		t.Fatalf("partition 0 holds %q", r.Value)
	}

	for _, c := range []struct {
		set  int
		want *kerr.Error
		msg  string
	}{
		{2, kerr.InvalidPartitions, "may only grow"},
		{3, kerr.InvalidPartitions, "already has 3"},
		{5000, kerr.InvalidPartitions, "at most"},
	} {
		rs, err := adm.UpdatePartitions(ctx, c.set, name)
		if err != nil || !errors.Is(rs[name].Err, c.want) || !strings.Contains(rs[name].ErrMessage, c.msg) {
			t.Errorf("set %d: %v %v %q, want %v with %q", c.set, err, rs[name].Err, rs[name].ErrMessage, c.want, c.msg)
		}
	}
	// kadm asks Metadata for the current count first; ask directly.
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "never_created", 2
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, client(t, s))
	if err != nil || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v %+v", err, resp)
	}
}

// TestDescribeConfigs: broker configs, the ConfigNames filter and unknown
// or invalid topics.
func TestDescribeConfigs(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	adm := kadm.NewClient(client(t, s))
	ctx := ctxT(t, 60*time.Second)
	name := newTopic(t, l, 2)

	brs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"message.max.bytes": fmt.Sprint(log.MaxRecordBytes), "auto.create.topics.enable": "true", "num.partitions": "1"}
	for _, c := range brs[0].Configs {
		if v, ok := want[c.Key]; ok {
			if *c.Value != v {
				t.Errorf("broker %s = %s, want %s", c.Key, *c.Value, v)
			}
			delete(want, c.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("broker configs lack %v", want)
	}

	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	for _, r := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{{kmsg.ConfigResourceTypeTopic, name}, {kmsg.ConfigResourceTypeTopic, "never_created"},
		{kmsg.ConfigResourceTypeTopic, "a.b"}, {kmsg.ConfigResourceTypeBroker, "not-a-broker"}} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = r.typ, r.name
		rr.ConfigNames = []string{"retention.ms", "no.such.config"}
		req.Resources = append(req.Resources, rr)
	}
	resp, err := req.RequestWith(ctx, client(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 4 {
		t.Fatalf("%d resources", len(resp.Resources))
	}
	// kgo sends a numbered broker's resource to that broker, the others anywhere.
	r0 := resp.Resources[0]
	if r0.ErrorCode != 0 || len(r0.Configs) != 1 || r0.Configs[0].Name != "retention.ms" || r0.Configs[0].Documentation == nil ||
		r0.Configs[0].ReadOnly || r0.Configs[0].ConfigType != kmsg.ConfigTypeLong {
		t.Fatalf("filtered topic configs: %+v", r0)
	}
	for i, want := range []*kerr.Error{kerr.UnknownTopicOrPartition, kerr.InvalidTopicException, kerr.InvalidRequest} {
		if got := resp.Resources[i+1]; got.ErrorCode != want.Code || got.ErrorMessage == nil {
			t.Errorf("resource %q: %v, want %v", got.ResourceName, kerr.ErrorForCode(got.ErrorCode), want)
		}
	}
}

// TestDescribeCluster: this server is the only broker and the controller.
func TestDescribeCluster(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 30*time.Second)
	resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, client(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || resp.ClusterID != "braid" || resp.ControllerID != 0 || len(resp.Brokers) != 1 {
		t.Fatalf("%+v", resp)
	}
	if b := resp.Brokers[0]; b.NodeID != 0 || b.Host != s.host || b.Port != s.port {
		t.Fatalf("broker %+v, want 0 at %s", b, s.Addr())
	}
}

// TestListOffsets lists earliest, latest and by-time offsets of a topic
// written in two phases separated in time.
func TestListOffsets(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	adm := kadm.NewClient(client(t, s))
	ctx := ctxT(t, 60*time.Second)
	name := newTopic(t, l, 1)
	p := client(t, s, kgo.DefaultProduceTopic(name))
	phase := func(tag string) {
		for i := range 3 {
			if err := p.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s%d", tag, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	phase("a")
	// The boundary is a millisecond after every first-phase record, and
	// the second phase starts after it.
	boundary := time.Now().UnixMilli() + 1
	for time.Now().UnixMilli() <= boundary {
		time.Sleep(time.Millisecond)
	}
	phase("b")
	future := time.Now().Add(time.Hour).UnixMilli()

	check := func(what string, os kadm.ListedOffsets, err error, offset int64) kadm.ListedOffset {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		o, ok := os.Lookup(name, 0)
		if !ok || o.Err != nil || o.Offset != offset {
			t.Fatalf("%s: %+v, want offset %d", what, o, offset)
		}
		return o
	}
	os, err := adm.ListStartOffsets(ctx, name)
	check("earliest", os, err, 0)
	os, err = adm.ListEndOffsets(ctx, name)
	check("latest", os, err, 6)
	os, err = adm.ListOffsetsAfterMilli(ctx, 0, name)
	check("after 0", os, err, 0)
	os, err = adm.ListOffsetsAfterMilli(ctx, boundary, name)
	o := check("after the boundary", os, err, 3)
	if o.Timestamp < boundary {
		t.Fatalf("the record at 3 has timestamp %d, before the boundary %d", o.Timestamp, boundary)
	}
	r := consumeOne(t, s, name, 0, 3)
	if string(r.Value) != "b0" || r.Timestamp.UnixMilli() != o.Timestamp {
		t.Fatalf("record 3: %q at %d, listed at %d", r.Value, r.Timestamp.UnixMilli(), o.Timestamp)
	}
	os, err = adm.ListOffsetsAfterMilli(ctx, future, name)
	check("after everything", os, err, 6) // kadm turns Kafka's -1 into the end

	os, err = adm.ListEndOffsets(ctx, "never_created")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := os.Lookup("never_created", -1); !ok || !errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %+v", os)
	}
}

// TestProduceTooLarge: a record over log.MaxRecordBytes is refused with
// MESSAGE_TOO_LARGE and nothing is stored.
func TestProduceTooLarge(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 60*time.Second)
	name := newTopic(t, l, 1)
	p := client(t, s, kgo.DefaultProduceTopic(name), kgo.ProducerBatchMaxBytes(16<<20), kgo.MaxBufferedBytes(64<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := make([]byte, log.MaxRecordBytes+1)
	for i := range big {
		big[i] = byte(i * 7)
	}
	err := p.ProduceSync(ctx, &kgo.Record{Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce %d bytes: %v, want MESSAGE_TOO_LARGE", len(big), err)
	}
	ti, err := l.Topic(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Partitions[0].EndOffset != 0 || ti.Messages != 0 {
		t.Fatalf("the log holds %d records (%d messages)", ti.Partitions[0].EndOffset, ti.Messages)
	}
	// The producer goes on with records that fit.
	if err := p.ProduceSync(ctx, &kgo.Record{Value: big[:1000]}).FirstErr(); err != nil {
		t.Fatalf("a record that fits: %v", err)
	}
}
