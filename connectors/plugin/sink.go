package plugin

import (
	"context"

	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
)

// sink is a plugin's sink, one process per task.
type sink struct{ task }

func (s *sink) Open(ctx context.Context) error {
	if err := s.launch(ctx); err != nil {
		return err
	}
	resp, err := s.p.client.Open(ctx, &pb.OpenRequest{})
	if err == nil {
		err = fromError(resp.Error, s.c.spec.Name)
	}
	return s.call(err)
}

func (s *sink) Write(ctx context.Context, records []sdk.Record) error {
	if err := s.ready(); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	if s.c.caps.GetNeedsFields() {
		// Decode with the topic's converter here: the plugin has only JSON.
		for i := range records {
			_, _ = records[i].Structured()
		}
	}
	resp, err := s.p.client.Write(ctx, &pb.WriteRequest{Batch: encode(records, s.p.packed)})
	if err == nil {
		err = fromError(resp.Error, s.c.spec.Name)
	}
	return s.call(err)
}

func (s *sink) Flush(ctx context.Context) error {
	if err := s.ready(); err != nil {
		return err
	}
	resp, err := s.p.client.Flush(ctx, &pb.FlushRequest{})
	if err == nil {
		err = fromError(resp.Error, s.c.spec.Name)
	}
	return s.call(err)
}

func (s *sink) Close(ctx context.Context) error { return s.closeProcess(ctx) }

type trackingSink struct{ *sink }

func (s trackingSink) WrittenOffsets(ctx context.Context, parts []sdk.TopicPartition) (map[sdk.TopicPartition]int64, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	req := &pb.WrittenOffsetsRequest{Partitions: make([]*pb.TopicPartition, len(parts))}
	for i, p := range parts {
		req.Partitions[i] = &pb.TopicPartition{Topic: p.Topic, Partition: p.Partition}
	}
	resp, err := s.p.client.WrittenOffsets(ctx, req)
	if err != nil {
		return nil, s.call(err)
	}
	if err := fromError(resp.Error, s.c.spec.Name); err != nil {
		return nil, err
	}
	out := make(map[sdk.TopicPartition]int64, len(resp.Offsets))
	for _, o := range resp.Offsets {
		out[sdk.TopicPartition{Topic: o.GetPartition().GetTopic(), Partition: o.GetPartition().GetPartition()}] = o.Offset
	}
	return out, nil
}

type fieldsSink struct{ *sink }

func (fieldsSink) NeedsFields() {}

type trackingFieldsSink struct{ trackingSink }

func (trackingFieldsSink) NeedsFields() {}
