package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Special ListOffsets timestamps.
const (
	latestTimestamp   = -1
	earliestTimestamp = -2
	maxTimestamp      = -3 // KIP-734: the record with the largest timestamp
	earliestLocal     = -4 // KIP-405: no tiered storage here, so = earliest
	latestTiered      = -5
)

// listOffsets answers ListOffsets: earliest, latest, the largest
// timestamp's record, or the first offset at or after a timestamp.
func (s *Server) listOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) kmsg.Response {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	v := s.cl.current()
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, v.epoch
			if !v.leads(t.Topic, p.Partition) {
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
			} else if err := s.listOffset(ctx, t.Topic, p, &rp); err != nil {
				rp.ErrorCode = errCode(err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Server) listOffset(ctx context.Context, topic string, p kmsg.ListOffsetsRequestTopicPartition, rp *kmsg.ListOffsetsResponseTopicPartition) error {
	first, end, err := s.log.PartitionOffsets(ctx, topic, p.Partition)
	if err != nil {
		return err
	}
	switch ts := p.Timestamp; {
	case ts == earliestTimestamp || ts == earliestLocal:
		rp.Offset = first
	case ts == latestTimestamp || ts == latestTiered:
		rp.Offset = end
	case ts == maxTimestamp:
		// Records are appended with increasing timestamps in practice; the
		// last record stands for the largest (docs/kafka.md).
		if end > first {
			r, err := s.recordAt(ctx, topic, p.Partition, end-1)
			if err != nil {
				return err
			}
			rp.Offset, rp.Timestamp = end-1, r
		}
	case ts >= 0:
		off, err := s.log.OffsetForTime(ctx, topic, p.Partition, time.UnixMilli(ts))
		if err != nil {
			return err
		}
		if off >= end {
			return nil // no record at or after ts: offset -1
		}
		rts, err := s.recordAt(ctx, topic, p.Partition, off)
		if err != nil {
			return err
		}
		rp.Offset, rp.Timestamp = off, rts
	default:
		return kerr.InvalidRequest
	}
	return nil
}

// recordAt returns the timestamp (ms) of the record at offset.
func (s *Server) recordAt(ctx context.Context, topic string, part int32, offset int64) (int64, error) {
	r, err := s.log.NewReader(ctx, topic, part, offset)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	recs, err := r.Fetch(ctx, 1, 0, 5*time.Second)
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return -1, nil
	}
	return recs[0].Timestamp.UnixMilli(), nil
}
