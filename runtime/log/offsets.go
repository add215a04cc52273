package log

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// OffsetsBucket is the KV bucket holding consumer-group offsets, keyed
// <group>.<topic>.<partition> with group and topic escaped by EscapeKey.
const OffsetsBucket = "braid_offsets"

// lagScanLimit is how many stored messages Lag reads (headers only) to count
// records exactly; beyond it the count is extrapolated.
const lagScanLimit = 1000

func (l *Log) offsetsKV(ctx context.Context) (*KV, error) {
	l.offsetsMu.Lock()
	defer l.offsetsMu.Unlock()
	if l.offsets != nil {
		return l.offsets, nil
	}
	kv, err := l.KV(ctx, OffsetsBucket)
	if err != nil {
		return nil, err
	}
	l.offsets = kv
	return kv, nil
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
	if err := checkGroup(group, topic); err != nil {
		return err
	}
	if partition < 0 || offset < 0 {
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
	prefix := EscapeKey(group) + "." + EscapeKey(topic) + "."
	lister, err := kv.kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("offsets of group %q topic %q: %w", group, topic, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	_ = lister.Stop()
	for _, k := range keys {
		p, err := strconv.ParseInt(strings.TrimPrefix(k, prefix), 10, 32)
		if err != nil {
			continue
		}
		e, err := kv.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("offsets of group %q topic %q partition %d: %w", group, topic, p, err)
		}
		off, err := strconv.ParseInt(string(e.Value()), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("offsets of group %q topic %q partition %d: bad value %q", group, topic, p, e.Value())
		}
		out[int32(p)] = off
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
	lister, err := kv.kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	seen := map[string]bool{}
	var out []string
	for k := range lister.Keys() {
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

// Lag returns, per partition, how many records the group has not processed
// (records after its committed offset; all records when it has none).
//
// Counts are exact when the backlog is at most 1000 stored messages (they are
// read headers-only); beyond that the rest is extrapolated from the average
// records per message seen so far. Topics with batching off are always exact.
func (l *Log) Lag(ctx context.Context, group, topic string) (map[int32]int64, error) {
	meta, err := l.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	committed, err := l.CommittedOffsets(ctx, group, topic)
	if err != nil {
		return nil, err
	}
	s, err := l.stream(ctx, topic)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subjectPrefix+topic+".*"))
	if err != nil {
		return nil, fmt.Errorf("lag of group %q topic %q: %w", group, topic, err)
	}
	out := make(map[int32]int64, meta.partitions)
	for p := range int32(meta.partitions) {
		if info.State.Subjects[PartitionSubject(topic, p)] == 0 {
			out[p] = 0
			continue
		}
		from := uint64(1)
		var inBatch int64
		if c, ok := committed[p]; ok {
			seq, idx := SplitOffset(c)
			from = seq + 1
			if meta.batching {
				inBatch = remainingInBatch(ctx, s, PartitionSubject(topic, p), seq, idx)
			}
		}
		var n int64
		if from <= info.State.LastSeq {
			n, err = countRecords(ctx, s, PartitionSubject(topic, p), from, meta.batching)
		}
		if err != nil {
			return nil, fmt.Errorf("lag of group %q topic %q partition %d: %w", group, topic, p, err)
		}
		out[p] = n + inBatch
	}
	return out, nil
}

// remainingInBatch returns how many records follow index idx in the message
// at seq (0 when it is gone or is not on the partition).
func remainingInBatch(ctx context.Context, s jetstream.Stream, subject string, seq uint64, idx int) int64 {
	m, err := s.GetMsg(ctx, seq)
	if err != nil || m.Subject != subject {
		return 0
	}
	return int64(max(recordCount(m.Header)-idx-1, 0))
}

// countRecords counts records stored on subject from sequence from on.
func countRecords(ctx context.Context, s jetstream.Stream, subject string, from uint64, batching bool) (int64, error) {
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
		HeadersOnly:    true,
	})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(lagScanLimit))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	var records, msgs, total int64
	for msgs < lagScanLimit {
		m, err := it.Next(jetstream.NextMaxWait(200 * time.Millisecond))
		if errors.Is(err, nats.ErrTimeout) {
			break // nothing (more) stored
		}
		if err != nil {
			return 0, err
		}
		md, err := m.Metadata()
		if err != nil {
			return 0, err
		}
		if msgs == 0 {
			total = int64(md.NumPending) + 1
			if !batching {
				return total, nil
			}
		}
		msgs++
		records += int64(recordCount(m.Headers()))
		if md.NumPending == 0 {
			break
		}
	}
	if msgs > 0 && total > msgs {
		records += (total - msgs) * records / msgs
	}
	return records, ctx.Err()
}
