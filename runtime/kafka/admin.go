package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bounds of the administration APIs.
const (
	// maxKafkaTopicName is Kafka's longest topic name; Braid's own limit
	// (200, log.ValidateTopicName) is stricter and is checked after it.
	maxKafkaTopicName = 249
	// maxAdminItems is how many topics or resources one admin request may
	// name; the rest are refused with INVALID_REQUEST.
	maxAdminItems = 1000
	// adminTimeout bounds one admin request: every topic is created,
	// changed or deleted in the log within it.
	adminTimeout = 30 * time.Second
)

// admin starts the topic and cluster administration APIs; nil when req is
// not one of them.
func (s *Server) admin(cn *conn, req kmsg.Request) func() kmsg.Response {
	switch r := req.(type) {
	case *kmsg.ListOffsetsRequest:
		return now(s.listOffsets(cn.ctx, r))
	case *kmsg.CreateTopicsRequest:
		return now(s.createTopics(cn.ctx, r))
	case *kmsg.DeleteTopicsRequest:
		return now(s.deleteTopics(cn.ctx, r))
	case *kmsg.CreatePartitionsRequest:
		return now(s.createPartitions(cn.ctx, r))
	case *kmsg.DescribeConfigsRequest:
		return now(s.describeConfigs(cn.ctx, r))
	case *kmsg.DescribeClusterRequest:
		return now(s.describeCluster(r))
	}
	return nil
}

// adminError is one topic's refusal: a Kafka error code and a message that
// says what was wrong and what to do.
type adminError struct {
	err *kerr.Error
	msg string
}

func refuse(err *kerr.Error, format string, args ...any) *adminError {
	return &adminError{err: err, msg: fmt.Sprintf(format, args...)}
}

// logRefusal turns a log error into an adminError.
func logRefusal(err error) *adminError {
	ke, ok := kerr.ErrorForCode(errCode(err)).(*kerr.Error)
	if !ok {
		ke = kerr.UnknownServerError
	}
	return &adminError{err: ke, msg: err.Error()}
}

// checkTopicName refuses names Kafka or Braid cannot hold.
func checkTopicName(name string) *adminError {
	if len(name) > maxKafkaTopicName {
		return refuse(kerr.InvalidTopicException, "topic name of %d characters: Kafka allows at most %d, Braid at most 200",
			len(name), maxKafkaTopicName)
	}
	if err := log.ValidateTopicName(name); err != nil {
		return refuse(kerr.InvalidTopicException,
			"%v (Braid topic names are 1 to 200 letters, digits, '_' and '-'; '.' is not allowed)", err)
	}
	return nil
}

// repeated returns the names that occur more than once; Kafka refuses
// every entry of such a name with INVALID_REQUEST.
func repeated(n int, name func(int) string) map[string]bool {
	seen := make(map[string]bool, n)
	dup := map[string]bool{}
	for i := range min(n, maxAdminItems) {
		if seen[name(i)] {
			dup[name(i)] = true
		}
		seen[name(i)] = true
	}
	return dup
}

// screen applies the checks every per-topic admin entry shares: the
// request's bound, names given twice, and the name itself.
func screen(i int, name string, dups map[string]bool) *adminError {
	switch {
	case i >= maxAdminItems:
		return refuse(kerr.InvalidRequest, "more than %d topics in one request", maxAdminItems)
	case dups[name]:
		return refuse(kerr.InvalidRequest, "topic %q is named more than once in the request", name)
	}
	return checkTopicName(name)
}

// createTopics answers CreateTopics: each topic is created in the log with
// the settings its Kafka configs map to (topicConfigFromKafka).
func (s *Server) createTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) kmsg.Response {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	dups := repeated(len(req.Topics), func(i int) string { return req.Topics[i].Topic })
	for i, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		cfg, ae := s.createTopic(ctx, i, t, dups, req.ValidateOnly)
		if ae != nil {
			rt.ErrorCode, rt.ErrorMessage = ae.err.Code, kmsg.StringPtr(ae.msg)
		} else {
			rt.TopicID = topicID(t.Topic)
			rt.NumPartitions, rt.ReplicationFactor = int32(cfg.Partitions), int16(cfg.Replicas)
			for _, e := range topicEntries(cfg) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.ReadOnly, c.Source = e.name, kmsg.StringPtr(e.value), e.readOnly, int8(e.source)
				rt.Configs = append(rt.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Server) createTopic(ctx context.Context, i int, t kmsg.CreateTopicsRequestTopic, dups map[string]bool, validateOnly bool) (log.TopicConfig, *adminError) {
	if ae := screen(i, t.Topic, dups); ae != nil {
		return log.TopicConfig{}, ae
	}
	cfg, ae := s.newTopicConfig(t)
	if ae != nil {
		return cfg, ae
	}
	// JetStream creates a stream idempotently: log.CreateTopic of an
	// existing topic with the same config succeeds, so look first. Two
	// clients racing to create one topic with one config both succeed.
	_, err := s.log.TopicConfig(ctx, t.Topic)
	switch {
	case err == nil:
		return cfg, refuse(kerr.TopicAlreadyExists, "topic %q already exists", t.Topic)
	case !errors.Is(err, log.ErrTopicNotFound):
		return cfg, logRefusal(err)
	case validateOnly:
		return cfg, nil
	}
	if err := s.log.CreateTopic(ctx, t.Topic, cfg); err != nil {
		return cfg, logRefusal(err)
	}
	s.logger.Info("topic created by a Kafka client", "topic", t.Topic, "partitions", cfg.Partitions, "replicas", cfg.Replicas)
	return cfg, nil
}

// newTopicConfig checks a CreateTopics entry's partitions, replication
// and configs and returns the log config they map to.
func (s *Server) newTopicConfig(t kmsg.CreateTopicsRequestTopic) (log.TopicConfig, *adminError) {
	cfg := log.TopicConfig{Partitions: int(t.NumPartitions), Replicas: int(t.ReplicationFactor)}
	if len(t.ReplicaAssignment) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return cfg, refuse(kerr.InvalidRequest, "both num partitions or replication factor and replica assignments were set; use one or the other")
		}
		n, ae := s.checkAssignment(t.ReplicaAssignment)
		if ae != nil {
			return cfg, ae
		}
		cfg.Partitions, cfg.Replicas = n, 1
	}
	if t.NumPartitions == -1 && len(t.ReplicaAssignment) == 0 {
		cfg.Partitions = autoCreatePartitions // Kafka's num.partitions default
	}
	if cfg.Partitions <= 0 || cfg.Partitions > log.MaxPartitions {
		return cfg, refuse(kerr.InvalidPartitions, "number of partitions %d: want 1 to %d, or -1 for the default (%d)",
			cfg.Partitions, log.MaxPartitions, autoCreatePartitions)
	}
	// The log's replicas are JetStream's: a replication factor above the
	// log's own (1 on a single node) has no servers to live on.
	most := max(s.log.Replicas(), 1)
	switch {
	case t.ReplicationFactor == -1 && len(t.ReplicaAssignment) == 0:
		cfg.Replicas = most
	case cfg.Replicas <= 0:
		return cfg, refuse(kerr.InvalidReplicationFactor, "replication factor %d: want 1 to %d, or -1 for the default", t.ReplicationFactor, most)
	case cfg.Replicas > most:
		return cfg, refuse(kerr.InvalidReplicationFactor, "replication factor %d is larger than the log's %d replicas (the NATS servers that hold each topic)",
			t.ReplicationFactor, most)
	}
	if ae := topicConfigFromKafka(&cfg, t.Configs); ae != nil {
		return cfg, ae
	}
	if err := cfg.Validate(); err != nil {
		return cfg, refuse(kerr.InvalidConfig, "%v", err)
	}
	return cfg, nil
}

// checkAssignment accepts explicit replica assignments that place each
// partition, once, on one live broker and returns the partition count.
// The broker is not kept: leaders are the rendezvous hashing's (cluster.go).
func (s *Server) checkAssignment(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) (int, *adminError) {
	if len(as) > log.MaxPartitions {
		return 0, refuse(kerr.InvalidPartitions, "%d partitions assigned: at most %d", len(as), log.MaxPartitions)
	}
	v := s.cl.current()
	seen := make([]bool, len(as))
	for _, a := range as {
		if a.Partition < 0 || int(a.Partition) >= len(as) || seen[a.Partition] {
			return 0, refuse(kerr.InvalidReplicaAssignment, "partitions must be assigned once each, 0 to %d; partition %d is not", len(as)-1, a.Partition)
		}
		seen[a.Partition] = true
		if ae := checkReplicas(v, a.Replicas); ae != nil {
			return 0, ae
		}
	}
	return len(as), nil
}

// checkReplicas accepts one replica on a live broker: the log, not a broker,
// holds a partition's copies.
func checkReplicas(v view, replicas []int32) *adminError {
	if len(replicas) != 1 || !v.has(replicas[0]) {
		if v.single() {
			return refuse(kerr.InvalidReplicaAssignment, "partition assigned to brokers %v: this cluster has one broker, %d",
				replicas[:min(len(replicas), 8)], v.self.ID)
		}
		return refuse(kerr.InvalidReplicaAssignment, "partition assigned to brokers %v: assign one of the live brokers %v",
			replicas[:min(len(replicas), 8)], v.ids())
	}
	return nil
}

// deleteTopics answers DeleteTopics (by name: v6's topic ids are beyond
// the advertised versions).
func (s *Server) deleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) kmsg.Response {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	dups := repeated(len(req.TopicNames), func(i int) string { return req.TopicNames[i] })
	for i, name := range req.TopicNames {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic = kmsg.StringPtr(name)
		ae := screen(i, name, dups)
		if ae != nil && ae.err == kerr.InvalidTopicException {
			// No such topic can exist: Kafka answers as for any unknown one.
			ae.err = kerr.UnknownTopicOrPartition
		}
		if ae == nil {
			if err := s.log.DeleteTopic(ctx, name); err != nil {
				ae = logRefusal(err)
			} else {
				s.logger.Info("topic deleted by a Kafka client", "topic", name)
			}
		}
		if ae != nil {
			rt.ErrorCode, rt.ErrorMessage = ae.err.Code, kmsg.StringPtr(ae.msg)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// createPartitions answers CreatePartitions: a topic's partition count
// may only grow, and new partitions start at offset 0.
func (s *Server) createPartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) kmsg.Response {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	dups := repeated(len(req.Topics), func(i int) string { return req.Topics[i].Topic })
	for i, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		if ae := s.createPartition(ctx, i, t, dups, req.ValidateOnly); ae != nil {
			rt.ErrorCode, rt.ErrorMessage = ae.err.Code, kmsg.StringPtr(ae.msg)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Server) createPartition(ctx context.Context, i int, t kmsg.CreatePartitionsRequestTopic, dups map[string]bool, validateOnly bool) *adminError {
	if ae := screen(i, t.Topic, dups); ae != nil {
		return ae
	}
	cfg, err := s.log.TopicConfig(ctx, t.Topic)
	if err != nil {
		return logRefusal(err)
	}
	cur := int32(cfg.Partitions)
	switch {
	case t.Count == cur:
		return refuse(kerr.InvalidPartitions, "topic %q already has %d partitions", t.Topic, cur)
	case t.Count < cur:
		return refuse(kerr.InvalidPartitions, "topic %q has %d partitions, more than the requested %d: partitions may only grow", t.Topic, cur, t.Count)
	case t.Count > log.MaxPartitions:
		return refuse(kerr.InvalidPartitions, "%d partitions: a topic has at most %d", t.Count, log.MaxPartitions)
	}
	if t.Assignment != nil {
		if len(t.Assignment) != int(t.Count-cur) {
			return refuse(kerr.InvalidReplicaAssignment, "%d assignments for %d new partitions", len(t.Assignment), t.Count-cur)
		}
		v := s.cl.current()
		for _, a := range t.Assignment {
			if ae := checkReplicas(v, a.Replicas); ae != nil {
				return ae
			}
		}
	}
	if validateOnly {
		return nil
	}
	// UpdateTopic sets retention, bytes and discard from its argument:
	// pass the stored ones so only the partition count changes.
	cfg.Partitions = int(t.Count)
	if err := s.log.UpdateTopic(ctx, t.Topic, cfg); err != nil {
		return logRefusal(err)
	}
	s.logger.Info("partitions added by a Kafka client", "topic", t.Topic, "from", cur, "to", t.Count)
	return nil
}

// describeCluster answers DescribeCluster: the live brokers; the lowest id
// stands for the controller (any broker serves admin requests).
func (s *Server) describeCluster(req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		// 2 asks for the controllers (KIP-919): Braid has no KRaft quorum.
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("only the broker endpoint type (1) is served")
		return resp
	}
	v := s.cl.current()
	resp.ClusterID = s.opts.ClusterID
	resp.ControllerID = v.brokers[0].ID
	for _, b := range v.brokers {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp
}
