package log

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// OffsetsBucket is the KV bucket holding consumer-group offsets, keyed
// <group>.<topic>.<partition> with group and topic escaped by EscapeKey.
const OffsetsBucket = "braid_offsets"

func (l *Log) offsetsKV(ctx context.Context) (*KV, error) {
	return l.offsets.open(ctx, l, OffsetsBucket)
}

func offsetKey(group, topic string, partition int32) string {
	return EscapeKey(group) + "." + EscapeKey(topic) + "." + strconv.Itoa(int(partition))
}

func checkGroup(group, topic string) error {
	if group == "" {
		return errors.New("consumer group: empty name")
	}
	return ValidateTopicName(topic)
}

// CommitOffset stores the last processed offset of a partition for a group.
func (l *Log) CommitOffset(ctx context.Context, group, topic string, partition int32, offset int64) error {
	return l.commit(ctx, group, topic, partition, offset, 0)
}

// commit stores offset (≥ least) as the group's last processed offset.
func (l *Log) commit(ctx context.Context, group, topic string, partition int32, offset, least int64) error {
	if err := checkGroup(group, topic); err != nil {
		return err
	}
	if partition < 0 || offset < least {
		return fmt.Errorf("commit group %q topic %q partition %d offset %d: %w", group, topic, partition, offset, ErrOffsetOutOfRange)
	}
	kv, err := l.offsetsKV(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.kv.Put(ctx, offsetKey(group, topic, partition), strconv.AppendInt(nil, offset, 10)); err != nil {
		return fmt.Errorf("commit group %q topic %q partition %d offset %d: %w", group, topic, partition, offset, err)
	}
	return nil
}

// CommittedOffsets returns the group's committed offsets for a topic.
func (l *Log) CommittedOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	if err := checkGroup(group, topic); err != nil {
		return nil, err
	}
	kv, err := l.offsetsKV(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	// The keys of a topic's partitions are known, and reading each from the
	// bucket's leader sees a commit made a moment ago; a key listing is served
	// by a consumer on any replica and may miss it. Listing is left for a
	// topic that is gone.
	parts := -1
	if meta, err := l.partitions(ctx, topic); err == nil {
		parts = meta.partitions
	} else if !errors.Is(err, ErrTopicNotFound) {
		return nil, err
	}
	var keys []int32
	if parts >= 0 {
		for p := range int32(parts) {
			keys = append(keys, p)
		}
	} else if keys, err = kv.partitionKeys(ctx, group, topic); err != nil {
		return nil, err
	}
	for _, p := range keys {
		k := offsetKey(group, topic, p)
		e, err := kv.getRaw(ctx, k, k)
		if errors.Is(err, ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("offsets of group %q topic %q partition %d: %w", group, topic, p, err)
		}
		off, err := strconv.ParseInt(string(e.Value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("offsets of group %q topic %q partition %d: bad value %q", group, topic, p, e.Value)
		}
		out[p] = off
	}
	return out, ctx.Err()
}

// partitionKeys lists the partitions a group has offsets for in a topic.
func (kv *KV) partitionKeys(ctx context.Context, group, topic string) ([]int32, error) {
	prefix := EscapeKey(group) + "." + EscapeKey(topic) + "."
	keys, err := kv.rawKeys(ctx, prefix+"*", prefix)
	if err != nil {
		return nil, fmt.Errorf("offsets of group %q topic %q: %w", group, topic, err)
	}
	var out []int32
	for _, k := range keys {
		if p, err := strconv.ParseInt(strings.TrimPrefix(k, prefix), 10, 32); err == nil {
			out = append(out, int32(p))
		}
	}
	return out, ctx.Err()
}

// DeleteOffsets forgets a group's offsets for a topic.
func (l *Log) DeleteOffsets(ctx context.Context, group, topic string) error {
	offs, err := l.CommittedOffsets(ctx, group, topic)
	if err != nil {
		return err
	}
	kv, err := l.offsetsKV(ctx)
	if err != nil {
		return err
	}
	for p := range offs {
		// Purge, not Delete: a forgotten group should leave no markers behind.
		if err := kv.kv.Purge(ctx, offsetKey(group, topic, p)); err != nil {
			return fmt.Errorf("delete offsets of group %q topic %q partition %d: %w", group, topic, p, err)
		}
	}
	return nil
}

// Groups lists consumer groups with committed offsets.
func (l *Log) Groups(ctx context.Context) ([]string, error) {
	kv, err := l.offsetsKV(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := kv.rawKeys(ctx, ">", "")
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		g, _, _ := strings.Cut(k, ".")
		name, err := UnescapeKey(g)
		if err != nil || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out, ctx.Err()
}

// Lag returns, per partition, how many records the group has not processed:
// the partition's end minus the offset after its committed one (all stored
// records when it has none). Exact at any depth, two reads per partition.
func (l *Log) Lag(ctx context.Context, group, topic string) (map[int32]int64, error) {
	meta, err := l.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	committed, err := l.CommittedOffsets(ctx, group, topic)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, meta.partitions)
	for p := range int32(meta.partitions) {
		_, end, err := l.partitionEnd(ctx, topic, p)
		if err != nil {
			return nil, fmt.Errorf("lag of group %q topic %q partition %d: %w", group, topic, p, err)
		}
		from, ok := committed[p]
		if ok {
			from++
		} else if from, err = l.firstOffset(ctx, topic, p, end); err != nil {
			return nil, fmt.Errorf("lag of group %q topic %q partition %d: %w", group, topic, p, err)
		}
		out[p] = max(end-from, 0)
	}
	return out, nil
}

// firstOffset returns the partition's first stored offset (end when empty).
func (l *Log) firstOffset(ctx context.Context, topic string, p int32, end int64) (int64, error) {
	_, first, found, err := l.probe(ctx, topic, p, 1)
	if err != nil || !found {
		return end, err
	}
	return first, nil
}

// PartitionOffsets returns a partition's first stored offset (its log start;
// end when empty) and its end (the high watermark: the offset the next record
// gets), both read from the stream leader. ErrPartitionNotFound when the topic
// has no such partition.
func (l *Log) PartitionOffsets(ctx context.Context, topic string, p int32) (first, end int64, err error) {
	meta, err := l.partitions(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	if p < 0 || int(p) >= meta.partitions {
		return 0, 0, fmt.Errorf("topic %q partition %d: %w", topic, p, ErrPartitionNotFound)
	}
	_, end, err = l.partitionEnd(ctx, topic, p)
	if err != nil {
		return 0, 0, err
	}
	first, err = l.firstOffset(ctx, topic, p, end)
	return min(first, end), end, err
}

// Partitions returns the topic's partition count (cached for a few seconds).
func (l *Log) Partitions(ctx context.Context, topic string) (int, error) {
	meta, err := l.partitions(ctx, topic)
	return meta.partitions, err
}
