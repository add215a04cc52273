package kafka

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Committed offsets are Braid's: one namespace with Braid's sink groups.
// Braid stores the last processed offset, Kafka the next one to read, so a
// Kafka commit of N is stored as N-1 (log.CommitNext) and OffsetFetch
// answers the stored offset + 1. Commit metadata is not stored: fetches
// answer "".

// offsetTimeout bounds the log reads and writes of one offsets request.
const offsetTimeout = 10 * time.Second

// maxCommitMetadata is Kafka's offset.metadata.max.bytes.
const maxCommitMetadata = 4096

// offsetCommit answers OffsetCommit.
func (g *groups) offsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	ctx, cancel := context.WithTimeout(ctx, offsetTimeout)
	defer cancel()
	code := checkGroupID(req.Group)
	if code == 0 {
		code = g.commitAllowed(req)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		parts := -1
		topicCode := code
		if topicCode == 0 {
			n, err := g.l.Partitions(ctx, t.Topic)
			if err != nil {
				topicCode = commitCode(err)
			}
			parts = n
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case topicCode != 0:
				rp.ErrorCode = topicCode
			case p.Partition < 0 || int(p.Partition) >= parts:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > maxCommitMetadata:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case p.Offset < 0:
				rp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				rp.ErrorCode = commitCode(g.l.CommitNext(ctx, req.Group, t.Topic, p.Partition, p.Offset))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commitAllowed applies Kafka's rules for who may commit: a member of the
// current generation, or anyone (generation -1, no member id) when the
// group has no members.
func (g *groups) commitAllowed(req *kmsg.OffsetCommitRequest) int16 {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr := g.m[req.Group]
	if gr == nil {
		if req.Generation < 0 {
			return 0
		}
		return kerr.IllegalGeneration.Code
	}
	var m *member
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		var c int16
		if m, c = gr.member(req.MemberID, req.InstanceID); c != 0 {
			return c
		}
		if req.Generation != gr.generation {
			return kerr.IllegalGeneration.Code
		}
	} else if len(gr.members) > 0 {
		return kerr.UnknownMemberID.Code
	}
	if gr.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	if m != nil {
		m.deadline = time.Now().Add(m.session)
	}
	return 0
}

// commitCode maps a log error of a commit to what Kafka answers.
func commitCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, log.ErrTopicNotFound), errors.Is(err, log.ErrPartitionNotFound), errors.Is(err, log.ErrInvalidTopicName):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	default:
		// Kafka answers failed offset writes with COORDINATOR_NOT_AVAILABLE:
		// retriable, the client commits again.
		return kerr.CoordinatorNotAvailable.Code
	}
}

// fetchTopic is one topic of an OffsetFetch; partitions nil asks for all
// the group has.
type fetchTopic struct {
	topic      string
	partitions []int32
}

type fetchedPartition struct {
	partition int32
	offset    int64 // Kafka's: the next offset to read; -1 when none is committed
	code      int16
}

type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

// fetchOffsets reads a group's offsets; topics nil asks for every topic the
// group committed on. A non-zero code is the group's error.
func (g *groups) fetchOffsets(ctx context.Context, group string, topics []fetchTopic) ([]fetchedTopic, int16) {
	if c := checkGroupID(group); c != 0 {
		return nil, c
	}
	if !g.coordinates(group) {
		return nil, kerr.NotCoordinator.Code
	}
	if topics == nil {
		names, err := g.l.GroupTopics(ctx, group)
		if err != nil {
			g.logger.Warn("kafka offset fetch: list the group's topics", "group", group, "err", err)
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		for _, n := range names {
			topics = append(topics, fetchTopic{topic: n})
		}
	}
	var out []fetchedTopic
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic}
		committed, err := g.l.CommittedOffsets(ctx, group, t.topic)
		if errors.Is(err, log.ErrInvalidTopicName) {
			committed, err = nil, nil // no such topic: nothing committed
		}
		if err != nil {
			g.logger.Warn("kafka offset fetch", "group", group, "topic", t.topic, "err", err)
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		parts := t.partitions
		if parts == nil {
			for p := range committed {
				parts = append(parts, p)
			}
			slices.Sort(parts)
		}
		for _, p := range parts {
			fp := fetchedPartition{partition: p, offset: -1}
			if off, ok := committed[p]; ok {
				fp.offset = off + 1
			}
			ft.partitions = append(ft.partitions, fp)
		}
		out = append(out, ft)
	}
	return out, 0
}

// offsetFetch answers OffsetFetch: one group (v1–v7) or a batch (v8).
func (g *groups) offsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	ctx, cancel := context.WithTimeout(ctx, offsetTimeout)
	defer cancel()
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = []fetchTopic{}
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{topic: t.Topic, partitions: nonNil(t.Partitions)})
				}
			}
			got, c := g.fetchOffsets(ctx, rg.Group, topics)
			og := kmsg.NewOffsetFetchResponseGroup()
			og.Group, og.ErrorCode = rg.Group, c
			for _, ft := range got {
				ot := kmsg.NewOffsetFetchResponseGroupTopic()
				ot.Topic = ft.topic
				for _, fp := range ft.partitions {
					op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					op.Partition, op.Offset, op.ErrorCode = fp.partition, fp.offset, fp.code
					op.LeaderEpoch, op.Metadata = -1, kmsg.StringPtr("")
					ot.Partitions = append(ot.Partitions, op)
				}
				og.Topics = append(og.Topics, ot)
			}
			resp.Groups = append(resp.Groups, og)
		}
		return resp
	}
	var topics []fetchTopic
	if req.Topics != nil {
		topics = []fetchTopic{}
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{topic: t.Topic, partitions: nonNil(t.Partitions)})
		}
	}
	got, c := g.fetchOffsets(ctx, req.Group, topics)
	if c != 0 && req.Version < 2 {
		// v1 has no group error: every partition asked for carries it.
		for _, t := range topics {
			ot := kmsg.NewOffsetFetchResponseTopic()
			ot.Topic = t.topic
			for _, p := range t.partitions {
				op := kmsg.NewOffsetFetchResponseTopicPartition()
				op.Partition, op.Offset, op.ErrorCode, op.LeaderEpoch = p, -1, c, -1
				ot.Partitions = append(ot.Partitions, op)
			}
			resp.Topics = append(resp.Topics, ot)
		}
		return resp
	}
	resp.ErrorCode = c
	for _, ft := range got {
		ot := kmsg.NewOffsetFetchResponseTopic()
		ot.Topic = ft.topic
		for _, fp := range ft.partitions {
			op := kmsg.NewOffsetFetchResponseTopicPartition()
			op.Partition, op.Offset, op.ErrorCode = fp.partition, fp.offset, fp.code
			op.LeaderEpoch, op.Metadata = -1, kmsg.StringPtr("")
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// nonNil keeps a named topic with no partitions from meaning "all of them".
func nonNil(ps []int32) []int32 {
	if ps == nil {
		return []int32{}
	}
	return ps
}
