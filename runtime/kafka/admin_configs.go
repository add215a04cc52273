package kafka

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic configs: how Kafka's names map to log.TopicConfig. Creation
// (topicConfigFromKafka) and description (topicEntries) are the two
// directions of the one mapping, kept side by side here.
//
//	retention.ms       Retention (-1 = 0 = forever; values beyond a Go duration also mean forever)
//	retention.bytes    MaxBytes = retention.bytes × partitions, Discard = old. Kafka's limit is
//	                   per partition, Braid's is the topic's total: described as MaxBytes / partitions
//	                   (adding partitions later keeps the total, so the described value shrinks).
//	cleanup.policy     delete only: compaction is not supported
//	max.message.bytes  at most log.MaxRecordBytes; the log enforces that limit for every topic, so a
//	                   smaller value is accepted but the topic is described with the real one
//	compression.type   producer (stored batches compressed with s2, the default) or uncompressed;
//	                   Braid never recompresses with a producer codec, so gzip, snappy, lz4 and zstd are refused
//	braid.discard      what a full topic does: reject (backpressure, the default) or old
const (
	cfgRetentionMs   = "retention.ms"
	cfgRetentionB    = "retention.bytes"
	cfgCleanup       = "cleanup.policy"
	cfgMaxMessage    = "max.message.bytes"
	cfgCompression   = "compression.type"
	cfgDiscard       = "braid.discard"
	maxTopicConfigs  = 64 // configs in one CreateTopics entry
	maxQuotedValue   = 64 // characters of a refused value echoed in a message
	minRetentionMs   = 100
	maxRetentionMs   = math.MaxInt64 / int64(time.Millisecond)
	compressionS2    = "s2"
	compressionNone  = "none"
	kafkaProducer    = "producer"
	kafkaUncompress  = "uncompressed"
	cleanupDelete    = "delete"
	discardExplained = "reject (refuse new records when full: backpressure) or old (delete the oldest)"
)

// topicConfigFromKafka applies CreateTopics configs to cfg, whose
// partitions are already set (retention.bytes scales with them).
func topicConfigFromKafka(cfg *log.TopicConfig, configs []kmsg.CreateTopicsRequestTopicConfig) *adminError {
	if len(configs) > maxTopicConfigs {
		return refuse(kerr.InvalidRequest, "%d configs: at most %d", len(configs), maxTopicConfigs)
	}
	seen := map[string]bool{}
	var discard log.Discard
	for _, c := range configs {
		if seen[c.Name] {
			return refuse(kerr.InvalidConfig, "config %q is given twice", quoted(c.Name))
		}
		seen[c.Name] = true
		if c.Value == nil {
			continue // null: the default
		}
		v := strings.TrimSpace(*c.Value)
		switch c.Name {
		case cfgRetentionMs:
			ms, err := strconv.ParseInt(v, 10, 64)
			switch {
			case err != nil:
				return refuse(kerr.InvalidConfig, "%s %q: want an integer number of milliseconds, -1 for forever", c.Name, quoted(v))
			case ms == -1 || ms > maxRetentionMs:
				cfg.Retention = 0
			case ms < minRetentionMs:
				return refuse(kerr.InvalidConfig, "%s %d: want -1 (forever) or at least %d (JetStream's shortest max age)", c.Name, ms, minRetentionMs)
			default:
				cfg.Retention = time.Duration(ms) * time.Millisecond
			}
		case cfgRetentionB:
			n, err := strconv.ParseInt(v, 10, 64)
			switch {
			case err != nil:
				return refuse(kerr.InvalidConfig, "%s %q: want an integer number of bytes per partition, -1 for unbounded", c.Name, quoted(v))
			case n == -1:
				cfg.MaxBytes = 0
			case n <= 0:
				return refuse(kerr.InvalidConfig, "%s %d: want -1 (unbounded) or a positive number of bytes per partition", c.Name, n)
			case n > math.MaxInt64/int64(cfg.Partitions):
				return refuse(kerr.InvalidConfig, "%s %d: too large for %d partitions", c.Name, n, cfg.Partitions)
			default:
				// Kafka deletes the oldest segments past the limit.
				cfg.MaxBytes, cfg.Discard = n*int64(cfg.Partitions), log.DiscardOld
			}
		case cfgCleanup:
			switch p := strings.ToLower(v); {
			case p == cleanupDelete:
			case strings.Contains(p, "compact"):
				return refuse(kerr.InvalidConfig, "%s %q: compaction is not supported; use delete", c.Name, quoted(v))
			default:
				return refuse(kerr.InvalidConfig, "%s %q: want delete", c.Name, quoted(v))
			}
		case cfgMaxMessage:
			n, err := strconv.ParseInt(v, 10, 32)
			switch {
			case err != nil || n <= 0:
				return refuse(kerr.InvalidConfig, "%s %q: want a positive number of bytes", c.Name, quoted(v))
			case n > log.MaxRecordBytes:
				return refuse(kerr.InvalidConfig, "%s %d: Braid stores records of at most %d bytes", c.Name, n, log.MaxRecordBytes)
			}
		case cfgCompression:
			switch strings.ToLower(v) {
			case kafkaProducer:
				cfg.Compression = compressionS2
			case kafkaUncompress:
				cfg.Compression = compressionNone
			default:
				return refuse(kerr.InvalidConfig, "%s %q: Braid stores batches compressed with s2 whatever the producer sent and does not recompress them; want producer or uncompressed",
					c.Name, quoted(v))
			}
		case cfgDiscard:
			switch d := log.Discard(strings.ToLower(v)); d {
			case log.DiscardReject, log.DiscardOld:
				discard = d
			default:
				return refuse(kerr.InvalidConfig, "%s %q: want %s", c.Name, quoted(v), discardExplained)
			}
		default:
			return refuse(kerr.InvalidConfig, "config %q is not supported; supported are %s, %s, %s, %s, %s and %s",
				quoted(c.Name), cfgRetentionMs, cfgRetentionB, cfgCleanup, cfgMaxMessage, cfgCompression, cfgDiscard)
		}
	}
	if discard != "" {
		cfg.Discard = discard // an explicit choice wins over retention.bytes'
	}
	return nil
}

// quoted bounds a client's string before it is echoed in a message.
func quoted(s string) string {
	if len(s) > maxQuotedValue {
		return s[:maxQuotedValue] + "…"
	}
	return s
}

// configEntry is one described config.
type configEntry struct {
	name, value string
	source      kmsg.ConfigSource
	readOnly    bool
	typ         kmsg.ConfigType
	doc         string
}

// topicEntries describes a topic's config in Kafka's terms.
func topicEntries(cfg log.TopicConfig) []configEntry {
	source := func(isDefault bool) kmsg.ConfigSource {
		if isDefault {
			return kmsg.ConfigSourceDefaultConfig
		}
		return kmsg.ConfigSourceDynamicTopicConfig
	}
	retention, retentionBytes := "-1", "-1"
	if cfg.Retention > 0 {
		retention = strconv.FormatInt(cfg.Retention.Milliseconds(), 10)
	}
	if cfg.MaxBytes > 0 && cfg.Partitions > 0 {
		retentionBytes = strconv.FormatInt(cfg.MaxBytes/int64(cfg.Partitions), 10)
	}
	compression := kafkaProducer
	if cfg.Compression == compressionNone {
		compression = kafkaUncompress
	}
	discard := cfg.Discard
	if discard == "" {
		discard = log.DiscardReject
	}
	return []configEntry{
		{cfgRetentionMs, retention, source(cfg.Retention == 0), false, kmsg.ConfigTypeLong,
			"How long records are kept, in milliseconds; -1 (Braid's default) keeps them forever."},
		{cfgRetentionB, retentionBytes, source(cfg.MaxBytes == 0), false, kmsg.ConfigTypeLong,
			"The topic's byte limit divided by its partitions (Braid limits the topic's total); -1 is unbounded."},
		{cfgCleanup, cleanupDelete, kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeList,
			"Old records are deleted by retention; compaction is not supported."},
		{cfgMaxMessage, strconv.Itoa(log.MaxRecordBytes), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeInt,
			"The largest record (key, value and headers) the log stores, for every topic."},
		{cfgCompression, compression, source(cfg.Compression != compressionNone), false, kmsg.ConfigTypeString,
			"producer: stored batches are compressed with s2; uncompressed: stored as they are."},
		{cfgDiscard, string(discard), source(discard == log.DiscardReject), true, kmsg.ConfigTypeString,
			"What a topic at its byte limit does with new records: " + discardExplained + "."},
	}
}

// brokerEntries describes this broker's fixed settings.
func (s *Server) brokerEntries() []configEntry {
	e := func(name, value string, typ kmsg.ConfigType, doc string) configEntry {
		return configEntry{name, value, kmsg.ConfigSourceDefaultConfig, true, typ, doc}
	}
	return []configEntry{
		e("message.max.bytes", strconv.Itoa(log.MaxRecordBytes), kmsg.ConfigTypeInt, "The largest record the log stores."),
		e("auto.create.topics.enable", "true", kmsg.ConfigTypeBoolean, "Metadata and Produce create the topics they name."),
		e("num.partitions", strconv.Itoa(autoCreatePartitions), kmsg.ConfigTypeInt, "Partitions of topics created without a count."),
		e("default.replication.factor", strconv.Itoa(max(s.log.Replicas(), 1)), kmsg.ConfigTypeShort, "The log's replicas of a new topic."),
		e("log.retention.ms", "-1", kmsg.ConfigTypeLong, "Topics keep records forever unless created with retention.ms."),
		e("log.retention.bytes", "-1", kmsg.ConfigTypeLong, "Topics are unbounded unless created with retention.bytes."),
		e("log.cleanup.policy", cleanupDelete, kmsg.ConfigTypeList, "Compaction is not supported."),
		e("compression.type", kafkaProducer, kmsg.ConfigTypeString, "Stored batches are compressed with s2."),
		e("delete.topic.enable", "true", kmsg.ConfigTypeBoolean, "DeleteTopics deletes topics."),
	}
}

// describeConfigs answers DescribeConfigs for topics and this broker.
func (s *Server) describeConfigs(ctx context.Context, req *kmsg.DescribeConfigsRequest) kmsg.Response {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		entries, ae := s.configResource(ctx, i, r)
		if ae != nil {
			rr.ErrorCode, rr.ErrorMessage = ae.err.Code, kmsg.StringPtr(ae.msg)
		}
		for _, e := range entries {
			if r.ConfigNames == nil || slices.Contains(r.ConfigNames, e.name) {
				rr.Configs = append(rr.Configs, e.describe(req))
			}
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

func (s *Server) configResource(ctx context.Context, i int, r kmsg.DescribeConfigsRequestResource) ([]configEntry, *adminError) {
	switch {
	case i >= maxAdminItems:
		return nil, refuse(kerr.InvalidRequest, "more than %d resources in one request", maxAdminItems)
	case len(r.ConfigNames) > maxAdminItems:
		return nil, refuse(kerr.InvalidRequest, "%d config names: at most %d", len(r.ConfigNames), maxAdminItems)
	}
	switch r.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if ae := checkTopicName(r.ResourceName); ae != nil {
			return nil, ae
		}
		cfg, err := s.log.TopicConfig(ctx, r.ResourceName)
		if err != nil {
			return nil, logRefusal(err)
		}
		return topicEntries(cfg), nil
	case kmsg.ConfigResourceTypeBroker:
		// "" asks for the cluster's defaults; every broker has the same
		// fixed settings, so any live one is answered here.
		if r.ResourceName != "" {
			v := s.cl.current()
			id, err := strconv.ParseInt(r.ResourceName, 10, 32)
			if err != nil || !v.has(int32(id)) {
				return nil, refuse(kerr.InvalidRequest, "broker %q is not one of the live brokers %v", quoted(r.ResourceName), v.ids())
			}
		}
		return s.brokerEntries(), nil
	}
	return nil, refuse(kerr.InvalidRequest, "resource type %s is not described: only topics and brokers", r.ResourceType)
}

func (e configEntry) describe(req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly = e.name, kmsg.StringPtr(e.value), e.readOnly
	c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig // v0's flag
	c.Source, c.ConfigType = e.source, e.typ
	if req.IncludeDocumentation {
		c.Documentation = kmsg.StringPtr(e.doc)
	}
	if req.IncludeSynonyms {
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Value, syn.Source = e.name, kmsg.StringPtr(e.value), e.source
		c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{syn}
	}
	return c
}
