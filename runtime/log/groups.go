package log

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// CommitNext stores where a group resumes in a partition, given as the next
// offset to read (Kafka's convention) rather than the last one processed
// (CommitOffset's): next-1 is stored. next 0 stores -1, "nothing processed,
// resume at 0", which differs from no commit at all: a reader without one
// starts where it is configured to (possibly the latest offset).
func (l *Log) CommitNext(ctx context.Context, group, topic string, partition int32, next int64) error {
	return l.commit(ctx, group, topic, partition, next-1, -1)
}

// GroupTopics lists the topics a group has committed offsets for, sorted.
func (l *Log) GroupTopics(ctx context.Context, group string) ([]string, error) {
	if group == "" {
		return nil, errors.New("consumer group: empty name")
	}
	kv, err := l.offsetsKV(ctx)
	if err != nil {
		return nil, err
	}
	prefix := EscapeKey(group) + "."
	keys, err := kv.rawKeys(ctx, prefix+"*.*", prefix)
	if err != nil {
		return nil, fmt.Errorf("topics of group %q: %w", group, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
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
