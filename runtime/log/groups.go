package log

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// CommitNext stores where a group resumes in a partition, given as the next
// offset to read (Kafka's convention) rather than the last one processed
// (CommitOffset's): next-1 is stored. next 0 stores -1, "nothing processed,
// resume at 0", which differs from no commit at all: a reader without one
// starts where it is configured to (possibly the latest offset).
func (l *Log) CommitNext(ctx context.Context, group, topic string, partition int32, next int64) error {
	if next > 0 {
		return l.CommitOffset(ctx, group, topic, partition, next-1)
	}
	if err := checkGroup(group, topic); err != nil {
		return err
	}
	if partition < 0 || next < 0 {
		return fmt.Errorf("commit group %q topic %q partition %d next offset %d: %w", group, topic, partition, next, ErrOffsetOutOfRange)
	}
	kv, err := l.offsetsKV(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.kv.Put(ctx, offsetKey(group, topic, partition), []byte("-1")); err != nil {
		return fmt.Errorf("commit group %q topic %q partition %d next offset 0: %w", group, topic, partition, err)
	}
	return nil
}

// GroupTopics lists the topics a group has committed offsets for, sorted.
// The listing is served by any replica of the offsets bucket, so a commit
// made a moment ago on another node may be missing.
func (l *Log) GroupTopics(ctx context.Context, group string) ([]string, error) {
	if group == "" {
		return nil, errors.New("consumer group: empty name")
	}
	kv, err := l.offsetsKV(ctx)
	if err != nil {
		return nil, err
	}
	prefix := EscapeKey(group) + "."
	lister, err := kv.kv.ListKeysFiltered(ctx, prefix+"*.*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("topics of group %q: %w", group, err)
	}
	defer func() { _ = lister.Stop() }()
	seen := map[string]bool{}
	var out []string
	for k := range lister.Keys() {
		t, p, ok := strings.Cut(strings.TrimPrefix(k, prefix), ".")
		if !ok {
			continue
		}
		if _, err := strconv.ParseInt(p, 10, 32); err != nil {
			continue
		}
		name, err := UnescapeKey(t)
		if err != nil || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out, ctx.Err()
}
