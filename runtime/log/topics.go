package log

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	streamPrefix  = "braid_t_"
	subjectPrefix = "braid.t."
	// metaConfig is the stream metadata key holding the TopicConfig as JSON.
	metaConfig = "braid.topic.config"
	// metaTopic holds the topic name, so listing does not parse stream names.
	metaTopic = "braid.topic.name"
	// metaFormat holds the storage format version (Format).
	metaFormat = "braid.topic.format"
	// descPrefix starts the stream description, followed by the config JSON
	// (for servers before 2.10, which have no metadata); it names the format.
	descPrefix = "braid topic v2 config "
	// descPrefixV1 started the description of format 1 topics.
	descPrefixV1 = "braid topic config "

	maxTopicName  = 200
	maxPartitions = 4096
)

// ValidateTopicName returns an error wrapping ErrInvalidTopicName unless name
// is 1–200 characters of letters, digits, '_' and '-'.
func ValidateTopicName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidTopicName)
	}
	if len(name) > maxTopicName {
		return fmt.Errorf("%w %q: longer than %d characters", ErrInvalidTopicName, name, maxTopicName)
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.':
			return fmt.Errorf("%w %q: '.' at position %d separates NATS subject tokens; use '_' or '-' instead", ErrInvalidTopicName, name, i)
		default:
			return fmt.Errorf("%w %q: character %q at position %d; allowed are letters, digits, '_' and '-'", ErrInvalidTopicName, name, c, i)
		}
	}
	return nil
}

// StreamName returns the JetStream stream that holds a topic.
func StreamName(topic string) string { return streamPrefix + topic }

// PartitionSubject returns the NATS subject of a topic's partition.
func PartitionSubject(topic string, partition int32) string {
	return subjectPrefix + topic + "." + strconv.Itoa(int(partition))
}

// BatchingEnabled reports whether the config stores many records per message.
func (c TopicConfig) BatchingEnabled() bool { return c.Batching == nil || *c.Batching }

// Validate checks the config; errors wrap ErrInvalidConfig and name the field.
func (c TopicConfig) Validate() error {
	switch {
	case c.Partitions < 1 || c.Partitions > maxPartitions:
		return fmt.Errorf("%w: partitions: %d, want 1..%d", ErrInvalidConfig, c.Partitions, maxPartitions)
	case c.Retention < 0:
		return fmt.Errorf("%w: retention: %s is negative", ErrInvalidConfig, c.Retention)
	case c.MaxBytes < 0:
		return fmt.Errorf("%w: max_bytes: %d is negative", ErrInvalidConfig, c.MaxBytes)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("%w: replicas: %d, want 1..5", ErrInvalidConfig, c.Replicas)
	}
	switch c.Discard {
	case "", DiscardReject, DiscardOld:
	default:
		return fmt.Errorf("%w: discard: %q, want %q or %q", ErrInvalidConfig, c.Discard, DiscardReject, DiscardOld)
	}
	switch c.Compression {
	case "", "none", "s2":
	default:
		return fmt.Errorf("%w: compression: %q, want \"none\" or \"s2\"", ErrInvalidConfig, c.Compression)
	}
	return nil
}

// normalize fills defaults so stored configs compare exactly.
func (c TopicConfig) normalize(defReplicas int) TopicConfig {
	if c.Replicas == 0 {
		c.Replicas = defReplicas
	}
	if c.Discard == "" {
		c.Discard = DiscardReject
	}
	if c.Compression == "" {
		c.Compression = "s2"
	}
	b := c.BatchingEnabled()
	c.Batching = &b
	return c
}

func (l *Log) streamConfig(name string, cfg TopicConfig) (jetstream.StreamConfig, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	discard := jetstream.DiscardNew
	if cfg.Discard == DiscardOld {
		discard = jetstream.DiscardOld
	}
	dupWindow := l.opts.DuplicateWindow
	if cfg.Retention > 0 && cfg.Retention < dupWindow {
		dupWindow = cfg.Retention
	}
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        StreamName(name),
		Description: descPrefix + string(raw), // for servers before 2.10 (no metadata)
		Subjects:    []string{subjectPrefix + name + ".*"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.Retention,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		MaxMsgSize:  maxMessageBytes,
		Discard:     discard,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  dupWindow,
		AllowDirect: true,
		Metadata:    map[string]string{metaConfig: string(raw), metaTopic: name, metaFormat: strconv.Itoa(Format)},
		// Source batches that span partitions are stored all or nothing.
		AllowAtomicPublish: l.atomic,
	}, nil
}

// CreateTopic creates a topic; ErrTopicExists when it exists.
func (l *Log) CreateTopic(ctx context.Context, name string, cfg TopicConfig) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("topic %q: %w", name, err)
	}
	cfg = cfg.normalize(l.opts.Replicas)
	sc, err := l.streamConfig(name, cfg)
	if err != nil {
		return err
	}
	// JetStream answers a create of an identical stream with success: ask
	// first, so an existing topic is always ErrTopicExists.
	if _, err := l.js.Stream(ctx, StreamName(name)); err == nil {
		return fmt.Errorf("create topic %q: %w", name, ErrTopicExists)
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	if _, err := l.js.CreateStream(ctx, sc); err != nil {
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create topic %q: %w", name, ErrTopicExists)
		}
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	l.log.Info("topic created", "topic", name, "partitions", cfg.Partitions)
	return nil
}

// EnsureTopic creates the topic or updates what may change (retention, bytes, discard; partitions may only grow).
func (l *Log) EnsureTopic(ctx context.Context, name string, cfg TopicConfig) error {
	err := l.CreateTopic(ctx, name, cfg)
	if !errors.Is(err, ErrTopicExists) {
		return err
	}
	cur, err := l.topicConfig(ctx, name)
	if err != nil {
		return err
	}
	want := cfg.normalize(l.opts.Replicas)
	if want.Partitions < cur.Partitions {
		return fmt.Errorf("topic %q: %w: partitions: %d is fewer than the existing %d (partitions may only grow)",
			name, ErrInvalidConfig, want.Partitions, cur.Partitions)
	}
	if want.BatchingEnabled() != cur.BatchingEnabled() {
		return fmt.Errorf("topic %q: %w: batching cannot change after creation", name, ErrInvalidConfig)
	}
	if want.Partitions == cur.Partitions && want.Retention == cur.Retention && want.MaxBytes == cur.MaxBytes &&
		want.Discard == cur.Discard && want.Compression == cur.Compression && want.Replicas == cur.Replicas {
		return nil
	}
	return l.applyConfig(ctx, name, want)
}

// UpdateTopic changes retention, max bytes and discard policy.
func (l *Log) UpdateTopic(ctx context.Context, name string, cfg TopicConfig) error {
	cur, err := l.topicConfig(ctx, name)
	if err != nil {
		return err
	}
	cur.Retention, cur.MaxBytes, cur.Discard = cfg.Retention, cfg.MaxBytes, cfg.Discard
	if cfg.Compression != "" {
		cur.Compression = cfg.Compression
	}
	if cfg.Partitions > cur.Partitions {
		cur.Partitions = cfg.Partitions
	}
	if err := cur.Validate(); err != nil {
		return fmt.Errorf("topic %q: %w", name, err)
	}
	return l.applyConfig(ctx, name, cur.normalize(l.opts.Replicas))
}

func (l *Log) applyConfig(ctx context.Context, name string, cfg TopicConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("topic %q: %w", name, err)
	}
	sc, err := l.streamConfig(name, cfg)
	if err != nil {
		return err
	}
	if _, err := l.js.UpdateStream(ctx, sc); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("update topic %q: %w", name, ErrTopicNotFound)
		}
		return fmt.Errorf("update topic %q: %w", name, err)
	}
	l.metaCache.forget(name)
	l.log.Info("topic updated", "topic", name, "partitions", cfg.Partitions)
	return nil
}

// DeleteTopic deletes a topic and its records.
func (l *Log) DeleteTopic(ctx context.Context, name string) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	if err := l.js.DeleteStream(ctx, StreamName(name)); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete topic %q: %w", name, ErrTopicNotFound)
		}
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	l.metaCache.forget(name)
	l.forgetTails(name)
	l.forgetEnds(ctx, name)
	l.log.Info("topic deleted", "topic", name)
	return nil
}

func (l *Log) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	s, err := l.js.Stream(ctx, StreamName(name))
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("topic %q: %w", name, ErrTopicNotFound)
		}
		return nil, fmt.Errorf("topic %q: %w", name, err)
	}
	return s, nil
}

func configFromStream(si *jetstream.StreamInfo) (TopicConfig, error) {
	raw, ok := si.Config.Metadata[metaConfig]
	format := si.Config.Metadata[metaFormat]
	if !ok {
		raw, ok = strings.CutPrefix(si.Config.Description, descPrefix)
		format = strconv.Itoa(Format)
	}
	if !ok {
		if _, v1 := strings.CutPrefix(si.Config.Description, descPrefixV1); v1 {
			ok, format = true, "1"
		}
	}
	if !ok {
		return TopicConfig{}, fmt.Errorf("stream %q is not a braid topic (no %s metadata)", si.Config.Name, metaConfig)
	}
	if format != strconv.Itoa(Format) {
		if format == "" {
			format = "1"
		}
		topic := strings.TrimPrefix(si.Config.Name, streamPrefix)
		return TopicConfig{}, fmt.Errorf("topic %q: %w: it is stored in format %s (offsets = stream sequence << 16 | index, from an earlier Braid build), this build reads format %d (dense offsets); nothing is migrated: delete the topic (braid topics delete %s) or start with a fresh --data-dir (or NATS cluster)",
			topic, ErrTopicFormat, format, Format, topic)
	}
	var cfg TopicConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return TopicConfig{}, fmt.Errorf("stream %q: bad topic config metadata: %w", si.Config.Name, err)
	}
	return cfg, nil
}

func (l *Log) topicConfig(ctx context.Context, name string) (TopicConfig, error) {
	s, err := l.stream(ctx, name)
	if err != nil {
		return TopicConfig{}, err
	}
	return configFromStream(s.CachedInfo())
}

// TopicConfig returns a topic's stored config, without describing its
// partitions (one stream lookup; Topic reads every partition's end).
func (l *Log) TopicConfig(ctx context.Context, name string) (TopicConfig, error) {
	return l.topicConfig(ctx, name)
}

// Topic describes a topic.
func (l *Log) Topic(ctx context.Context, name string) (TopicInfo, error) {
	s, err := l.stream(ctx, name)
	if err != nil {
		return TopicInfo{}, err
	}
	si, err := s.Info(ctx, jetstream.WithSubjectFilter(subjectPrefix+name+".*"))
	if err != nil {
		return TopicInfo{}, fmt.Errorf("describe topic %q: %w", name, err)
	}
	cfg, err := configFromStream(si)
	if err != nil {
		return TopicInfo{}, err
	}
	ti := TopicInfo{
		Name: name, Config: cfg, Bytes: si.State.Bytes, Messages: si.State.Msgs,
		Created: si.Created,
	}
	for p := range int32(cfg.Partitions) {
		pi, err := l.partitionInfo(ctx, s, name, p, si.State.Subjects[PartitionSubject(name, p)])
		if err != nil {
			return TopicInfo{}, err
		}
		ti.Partitions = append(ti.Partitions, pi)
	}
	return ti, nil
}

func (l *Log) partitionInfo(ctx context.Context, s jetstream.Stream, topic string, p int32, msgs uint64) (PartitionInfo, error) {
	pi := PartitionInfo{Partition: p, FirstOffset: -1, LastOffset: -1, Messages: int64(msgs)}
	_, end, err := l.partitionEnd(ctx, topic, p)
	if err != nil {
		return pi, err
	}
	pi.EndOffset = end
	if msgs == 0 {
		return pi, nil
	}
	_, first, found, err := l.probe(ctx, topic, p, 1)
	if err != nil {
		return pi, err
	}
	if !found || first >= end { // removed by retention meanwhile
		pi.Messages = 0
		return pi, nil
	}
	pi.FirstOffset, pi.LastOffset = first, end-1
	return pi, nil
}

// TopicNames lists every topic's name, sorted, without describing them.
func (l *Log) TopicNames(ctx context.Context) ([]string, error) {
	var names []string
	lister := l.js.ListStreams(ctx, jetstream.WithStreamListSubject(subjectPrefix+">"))
	for si := range lister.Info() {
		name, ok := strings.CutPrefix(si.Config.Name, streamPrefix)
		if ok && (si.Config.Metadata[metaTopic] == name || strings.HasPrefix(si.Config.Description, descPrefix) ||
			strings.HasPrefix(si.Config.Description, descPrefixV1)) {
			names = append(names, name)
		}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// Topics lists every topic.
func (l *Log) Topics(ctx context.Context) ([]TopicInfo, error) {
	names, err := l.TopicNames(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TopicInfo, 0, len(names))
	for _, n := range names {
		ti, err := l.Topic(ctx, n)
		if errors.Is(err, ErrTopicNotFound) {
			continue // deleted while listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ti)
	}
	return out, nil
}

// partitions returns the topic's partition count and batching flag; cached
// briefly so producers do not ask the server for every batch.
func (l *Log) partitions(ctx context.Context, topic string) (topicMeta, error) {
	if m, ok := l.metaCache.get(topic); ok {
		return m, nil
	}
	cfg, err := l.topicConfig(ctx, topic)
	if err != nil {
		return topicMeta{}, err
	}
	m := topicMeta{partitions: cfg.Partitions, batching: cfg.BatchingEnabled(), compress: cfg.Compression != "none",
		removes: cfg.Retention > 0 || (cfg.MaxBytes > 0 && cfg.Discard == DiscardOld)}
	l.metaCache.put(topic, m, time.Now().Add(5*time.Second))
	return m, nil
}
