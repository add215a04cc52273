package kafka

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// autoCreatePartitions is the partition count of topics created by Metadata
// and Produce (Kafka's num.partitions default).
const autoCreatePartitions = 1

// errCode maps a log error to the Kafka error code a client expects.
func errCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, log.ErrTopicNotFound), errors.Is(err, log.ErrPartitionNotFound):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, log.ErrInvalidTopicName):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, log.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, log.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, log.ErrClosed), errors.Is(err, context.Canceled):
		return kerr.NotLeaderForPartition.Code
	default:
		// A JetStream fault (leader election, full topic, lost quorum):
		// retriable, so clients retry until their delivery timeout and
		// then report it; never a silent loss.
		return kerr.KafkaStorageError.Code
	}
}

// topicID derives a stable topic id from the name (Braid topics have none).
func topicID(name string) [16]byte {
	sum := sha256.Sum256([]byte("braid-topic:" + name))
	var id [16]byte
	copy(id[:], sum[:16])
	return id
}

func (b brokerInfo) metadata() kmsg.MetadataResponseBroker {
	mb := kmsg.NewMetadataResponseBroker()
	mb.NodeID, mb.Host, mb.Port = b.ID, b.Host, b.Port
	return mb
}

// metadata answers Metadata: the live brokers, each partition led by the
// one rendezvous hashing picks (cluster.go), at the membership generation.
func (s *Server) metadata(ctx context.Context, req *kmsg.MetadataRequest) kmsg.Response {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	v := s.cl.fresh(ctx)
	for _, b := range v.brokers {
		resp.Brokers = append(resp.Brokers, b.metadata())
	}
	resp.ClusterID = &s.opts.ClusterID
	resp.ControllerID = v.brokers[0].ID // any broker serves admin requests
	var names []string
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		var err error
		if names, err = s.log.TopicNames(ctx); err != nil {
			s.logger.Warn("metadata: list topics", "err", err)
		}
	} else {
		for _, t := range req.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	autoCreate := req.AllowAutoTopicCreation || req.Version < 4
	for _, name := range names {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(name)
		mt.TopicID = topicID(name)
		n, err := s.log.Partitions(ctx, name)
		if errors.Is(err, log.ErrTopicNotFound) && autoCreate && !all {
			err = s.autoCreate(ctx, name)
			if err == nil {
				n, err = s.log.Partitions(ctx, name)
			}
		}
		if err != nil {
			mt.ErrorCode = errCode(err)
			if mt.ErrorCode == kerr.KafkaStorageError.Code {
				mt.ErrorCode = kerr.LeaderNotAvailable.Code // retriable for metadata
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		for p := range int32(n) {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition = p
			leader := v.leader(name, p).ID
			mp.Leader = leader
			mp.LeaderEpoch = v.epoch
			mp.Replicas = []int32{leader}
			mp.ISR = []int32{leader}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// autoCreate creates a topic a client named, as Kafka's
// auto.create.topics.enable does, with the worker's defaults.
func (s *Server) autoCreate(ctx context.Context, name string) error {
	if err := log.ValidateTopicName(name); err != nil {
		return err
	}
	err := s.log.EnsureTopic(ctx, name, log.TopicConfig{Partitions: autoCreatePartitions})
	if err == nil {
		s.logger.Info("topic created by a Kafka client", "topic", name, "partitions", autoCreatePartitions)
	}
	return err
}
