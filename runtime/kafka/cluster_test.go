package kafka

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/internal/natstest"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterLogs starts a 3-node JetStream cluster and opens n log handles,
// handle i connected to node i mod 3.
func clusterLogs(t *testing.T, n int) []*log.Log {
	t.Helper()
	c := natstest.Start(t, 3)
	ctx := ctxT(t, 30*time.Second)
	var ls []*log.Log
	for i := range n {
		conn, err := natsd.Start(ctx, natsd.Config{URL: c.URL(i % 3)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := log.Open(ctx, conn, log.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = l.Close()
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = conn.Close(cctx)
		})
		ls = append(ls, l)
	}
	return ls
}

// brokers starts a Server on each log, as workers worker-1.., with a short
// broker TTL, and waits until every one sees all of them.
func brokers(t *testing.T, ls []*log.Log) []*Server {
	t.Helper()
	var ss []*Server
	for i, l := range ls {
		s := New(l, Options{Addr: "127.0.0.1:0", WorkerID: fmt.Sprintf("worker-%d", i+1)})
		s.cl.ttl, s.cl.refresh = 3*time.Second, 300*time.Millisecond
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		ss = append(ss, s)
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("every server sees %d brokers", len(ss)), func() bool {
		for _, s := range ss {
			if len(s.cl.current().brokers) != len(ss) {
				return false
			}
		}
		return true
	})
	return ss
}

// metadataOf asks one broker directly for a topic's metadata.
func metadataOf(t *testing.T, ctx context.Context, cl *kgo.Client, node int32, topic string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.Broker(int(node)).Request(ctx, req)
	if err != nil {
		t.Fatalf("metadata from broker %d: %v", node, err)
	}
	return resp.(*kmsg.MetadataResponse)
}

func TestClusterNotLeaderNotCoordinator(t *testing.T) {
	l := testLog(t)
	ss := brokers(t, []*log.Log{l, l})
	a, b := ss[0], ss[1]
	if a.opts.NodeID == b.opts.NodeID || a.opts.NodeID <= 0 {
		t.Fatalf("node ids %d and %d: want distinct positive ids", a.opts.NodeID, b.opts.NodeID)
	}
	topic := newTopic(t, a.log, 16)
	v := a.cl.current()
	part := int32(-1)
	for p := range int32(16) {
		if v.leader(topic, p).ID == b.opts.NodeID {
			part = p
			break
		}
	}
	if part < 0 {
		t.Fatal("broker b leads none of 16 partitions")
	}
	group := ""
	for i := 0; group == ""; i++ {
		if id := fmt.Sprintf("g%d", i); v.coordinator(id).ID == b.opts.NodeID {
			group = id
		}
	}
	ctx := ctxT(t, 20*time.Second)
	cl := client(t, a)
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	md := metadataOf(t, ctx, cl, a.opts.NodeID, topic)
	if len(md.Brokers) != 2 || md.Topics[0].Partitions[part].Leader != b.opts.NodeID {
		t.Fatalf("metadata: brokers %d, leader of %d: %d; want 2 brokers, leader %d", len(md.Brokers), part, md.Topics[0].Partitions[part].Leader, b.opts.NodeID)
	}
	direct := func(s *Server, req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := cl.Broker(int(s.opts.NodeID)).Request(ctx, req)
		if err != nil {
			t.Fatalf("%s to broker %d: %v", kmsg.NameForKey(req.Key()), s.opts.NodeID, err)
		}
		return resp
	}
	check := func(what string, got, want int16) {
		t.Helper()
		if got != want {
			t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
		}
	}
	nl, nc := kerr.NotLeaderForPartition.Code, kerr.NotCoordinator.Code

	// Partitions.
	pr := kmsg.NewPtrProduceRequest()
	pr.Acks, pr.TimeoutMillis = 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition, pp.Records = part, []byte{}
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	check("Produce to a non-leader", direct(a, pr).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode, nl)

	fr := kmsg.NewPtrFetchRequest()
	fr.MaxWaitMillis, fr.MaxBytes = 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes, fp.LogStartOffset = part, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	check("Fetch from a non-leader", direct(a, fr).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode, nl)
	check("Fetch from the leader", direct(b, fr).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode, 0)

	lr := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = part, latestTimestamp
	lt.Partitions = append(lt.Partitions, lp)
	lr.Topics = append(lr.Topics, lt)
	check("ListOffsets on a non-leader", direct(a, lr).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode, nl)

	// The client routes to the leader by itself.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce through the client: %v", err)
	}

	// Groups.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorKeys = group, []string{group}
	fcr := direct(a, fc).(*kmsg.FindCoordinatorResponse)
	node := fcr.NodeID
	if fcr.Version >= 4 {
		node = fcr.Coordinators[0].NodeID
	}
	if node != b.opts.NodeID {
		t.Errorf("FindCoordinator on a: node %d, want b (%d)", node, b.opts.NodeID)
	}
	jr := kmsg.NewPtrJoinGroupRequest()
	jr.Group, jr.ProtocolType, jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis = group, "consumer", 10000, 10000
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name = "range"
	jr.Protocols = append(jr.Protocols, jp)
	check("JoinGroup on a non-coordinator", direct(a, jr).(*kmsg.JoinGroupResponse).ErrorCode, nc)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = group, "m", 1
	check("Heartbeat on a non-coordinator", direct(a, hb).(*kmsg.HeartbeatResponse).ErrorCode, nc)
	check("Heartbeat on the coordinator", direct(b, hb).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID.Code)
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = group, -1
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = topic
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Partition, op.Offset = part, 1
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	check("OffsetCommit on a non-coordinator", direct(a, oc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nc)
	check("OffsetCommit on the coordinator", direct(b, oc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, 0)
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	ofg := kmsg.NewOffsetFetchRequestGroup()
	ofg.Group = group
	of.Groups = append(of.Groups, ofg)
	ofr := direct(a, of).(*kmsg.OffsetFetchResponse)
	code := ofr.ErrorCode
	if ofr.Version >= 8 {
		code = ofr.Groups[0].ErrorCode
	}
	check("OffsetFetch on a non-coordinator", code, nc)

	// ListGroups: each coordinator answers its own groups.
	for _, s := range ss {
		lg := direct(s, kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
		has := slices.ContainsFunc(lg.Groups, func(g kmsg.ListGroupsResponseGroup) bool { return g.Group == group })
		if has != (s == b) {
			t.Errorf("ListGroups on broker %d lists %s: %v", s.opts.NodeID, group, has)
		}
	}
}

// Three workers serve one topic and one group; one dies (its registration
// lapses, it is not deleted); the others take over its partitions and its
// group, and every record is read exactly once.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster: not in -short")
	}
	ss := brokers(t, clusterLogs(t, 3))
	ctx := ctxT(t, 60*time.Second)
	const topic, group, parts = "orders", "orders-readers", 6
	if err := ss[0].log.CreateTopic(ctx, topic, log.TopicConfig{Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	fast := []kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })}
	prod := client(t, ss[0], append(fast, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)

	// Three brokers, leaders spread.
	md := metadataOf(t, ctx, prod, ss[0].opts.NodeID, topic)
	if len(md.Brokers) != 3 {
		t.Fatalf("metadata lists %d brokers, want 3", len(md.Brokers))
	}
	epochs := map[int32]int32{}
	leaders := map[int32]bool{}
	for _, p := range md.Topics[0].Partitions {
		epochs[p.Partition] = p.LeaderEpoch
		leaders[p.Leader] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("the %d partitions are led by %v: want them spread over the brokers", parts, leaders)
	}

	var mu sync.Mutex
	counts := map[string]int{}
	read := func() (distinct, total int) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range counts {
			total += n
		}
		return len(counts), total
	}
	produce := func(from, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(fmt.Sprintf("r%d", i))})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	// A consumer that counts a record only once its offset is committed:
	// one whose commit failed is read again after the group rejoins.
	cons := client(t, ss[0], append(fast, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(), kgo.FetchMaxWait(300*time.Millisecond), kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(300*time.Millisecond), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for cctx.Err() == nil {
			fs := cons.PollFetches(cctx)
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
			if len(recs) > 0 && cons.CommitRecords(cctx, recs...) == nil {
				mu.Lock()
				for _, r := range recs {
					counts[string(r.Value)]++
				}
				mu.Unlock()
			}
			cons.AllowRebalance()
		}
	}()
	defer func() { stop(); wg.Wait() }()

	const n = 300
	produce(0, n)
	waitFor(t, 20*time.Second, "the group reads the first records", func() bool { d, _ := read(); return d == n })

	// The worker coordinating the group dies.
	v := ss[0].cl.current()
	coord := v.coordinator(group).ID
	var victim *Server
	var alive []*Server
	for _, s := range ss {
		if s.opts.NodeID == coord {
			victim = s
		} else {
			alive = append(alive, s)
		}
	}
	moved := 0
	for p := range int32(parts) {
		if v.leader(topic, p).ID == coord {
			moved++
		}
	}
	victim.cl.stop(false) // its key lapses, as a killed worker's
	_ = victim.Close()
	t.Logf("broker %d (coordinator of %s, leader of %d partitions) died", coord, group, moved)

	waitFor(t, 15*time.Second, "the others list 2 brokers", func() bool {
		for _, s := range alive {
			if len(metadataOf(t, ctx, prod, s.opts.NodeID, topic).Brokers) != 2 {
				return false
			}
		}
		return true
	})
	for _, s := range alive {
		md := metadataOf(t, ctx, prod, s.opts.NodeID, topic)
		for _, p := range md.Topics[0].Partitions {
			if p.Leader == coord {
				t.Errorf("broker %d: partition %d still led by the dead broker", s.opts.NodeID, p.Partition)
			}
			if p.LeaderEpoch <= epochs[p.Partition] {
				t.Errorf("broker %d: partition %d epoch %d, was %d: want it raised", s.opts.NodeID, p.Partition, p.LeaderEpoch, epochs[p.Partition])
			}
		}
	}

	produce(n, n)
	waitFor(t, 25*time.Second, "the group reads the records produced after the death", func() bool { d, _ := read(); return d == 2*n })
	stop()
	wg.Wait()
	if d, total := read(); d != 2*n || total != 2*n {
		mu.Lock()
		for k, c := range counts {
			if c != 1 {
				t.Errorf("%s read %d times", k, c)
			}
		}
		mu.Unlock()
		t.Fatalf("read %d records (%d distinct), want each of %d exactly once", total, d, 2*n)
	}
}

// A worker keeps its node id across restarts; another worker gets another.
func TestNodeIDStablePerWorker(t *testing.T) {
	l := testLog(t)
	start := func(worker string) int32 {
		t.Helper()
		s := New(l, Options{Addr: "127.0.0.1:0", WorkerID: worker})
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.opts.NodeID
	}
	a := start("worker-a")
	if again := start("worker-a"); again != a || a <= 0 {
		t.Fatalf("worker-a: node %d, then %d after a restart; want the same positive id", a, again)
	}
	if b := start("worker-b"); b == a || b <= 0 {
		t.Fatalf("worker-b: node %d, worker-a %d: want distinct positive ids", b, a)
	}
	s := New(l, Options{Addr: "127.0.0.1:0", NodeID: 42, WorkerID: "worker-a"})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.opts.NodeID != 42 {
		t.Fatalf("Options.NodeID 42: node %d", s.opts.NodeID)
	}
}
