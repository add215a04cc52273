package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumed records which member saw which record id.
type consumed struct {
	mu    sync.Mutex
	seen  map[int]bool
	count map[string]int // per member
}

func (c *consumed) has(from, to int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := from; i < to; i++ {
		if !c.seen[i] {
			return false
		}
	}
	return true
}

func (c *consumed) of(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[name]
}

// groupMember is one kgo consumer group member polling in a goroutine.
type groupMember struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	assigned map[int32]bool
	ever     map[int32]bool
}

func (m *groupMember) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.assigned))
}

// groupOpts are short timeouts so rebalances take a fraction of a second.
func groupOpts(group, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(150 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second), kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.FetchMaxWait(300 * time.Millisecond),
	}
}

func startMember(t *testing.T, s *Server, name, group, topic string, c *consumed) *groupMember {
	t.Helper()
	m := &groupMember{name: name, done: make(chan struct{}), assigned: map[int32]bool{}, ever: map[int32]bool{}}
	opts := append(groupOpts(group, topic),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.assigned[p], m.ever[p] = true, true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			// Replacing the default revoke: commit what was consumed, as it does.
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("%s: commit on revoke: %v", name, err)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.assigned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range l[topic] {
				delete(m.assigned, p)
			}
		}),
	)
	m.cl = client(t, s, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for {
			fs := m.cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			fs.EachError(func(topic string, p int32, err error) { t.Logf("%s: fetch %s/%d: %v", name, topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				var i int
				fmt.Sscanf(string(r.Value), "v%d", &i)
				c.mu.Lock()
				c.seen[i] = true
				c.count[name]++
				c.mu.Unlock()
			})
		}
	}()
	return m
}

// stop commits what the member consumed and closes it (leaving the group).
func (m *groupMember) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	<-m.done
	m.cl.Close()
}

// split reports whether the members hold every partition of n, each some,
// none twice.
func split(n int, ms ...*groupMember) bool {
	owner := map[int32]bool{}
	for _, m := range ms {
		ps := m.partitions()
		if len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			if owner[p] {
				return false
			}
			owner[p] = true
		}
	}
	return len(owner) == n
}

func produceRange(t *testing.T, p *kgo.Client, ctx context.Context, from, to int) {
	t.Helper()
	var rs []*kgo.Record
	for i := from; i < to; i++ {
		rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestConsumerGroupCooperative runs three cooperative-sticky members on six
// partitions: they join one by one and one leaves midway. Every record is
// consumed, the partitions are split, the commits reach the end offsets, and
// a later session resumes from them.
func TestConsumerGroupCooperative(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 60*time.Second)
	const parts = 6
	topic := newTopic(t, l, parts)
	group := "coop-" + topic
	p := client(t, s, kgo.DefaultProduceTopic(topic))
	adm := kadm.NewClient(client(t, s))
	c := &consumed{seen: map[int]bool{}, count: map[string]int{}}

	produceRange(t, p, ctx, 0, 200)
	a := startMember(t, s, "a", group, topic, c)
	waitFor(t, 10*time.Second, "a to own every partition", func() bool { return split(parts, a) })
	b := startMember(t, s, "b", group, topic, c)
	waitFor(t, 10*time.Second, "a and b to split the partitions", func() bool { return split(parts, a, b) })
	cm := startMember(t, s, "c", group, topic, c)
	waitFor(t, 10*time.Second, "a, b and c to split the partitions", func() bool { return split(parts, a, b, cm) })

	produceRange(t, p, ctx, 200, 400)
	waitFor(t, 15*time.Second, "records 0..399, some for each member", func() bool {
		return c.has(0, 400) && c.of("a") > 0 && c.of("b") > 0 && c.of("c") > 0
	})
	b.stop(t)
	waitFor(t, 10*time.Second, "a and c to take over b's partitions", func() bool { return split(parts, a, cm) })
	produceRange(t, p, ctx, 400, 600)
	waitFor(t, 15*time.Second, "every record", func() bool { return c.has(0, 600) })
	for _, m := range []*groupMember{a, b, cm} {
		t.Logf("member %s consumed %d records; owns %v", m.name, c.of(m.name), m.partitions())
		m.mu.Lock()
		if len(m.ever) == 0 {
			t.Errorf("member %s never had a partition", m.name)
		}
		m.mu.Unlock()
	}

	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	var got map[int32]int64
	waitFor(t, 10*time.Second, "the committed offsets to reach the end offsets", func() bool {
		for _, m := range []*groupMember{a, cm} {
			if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("%s: commit: %v", m.name, err)
			}
		}
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Logf("fetch offsets: %v", err)
			return false
		}
		got = map[int32]int64{}
		offs.Each(func(o kadm.OffsetResponse) { got[o.Partition] = o.At })
		return maps.Equal(got, want)
	})
	committed, err := l.CommittedOffsets(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, end := range want {
		if committed[p] != end-1 {
			t.Errorf("partition %d: the log holds committed offset %d, want %d (Kafka's %d minus one)", p, committed[p], end-1, end)
		}
	}
	a.stop(t)
	cm.stop(t)

	// A new session of the group resumes where the first one committed.
	produceRange(t, p, ctx, 600, 650)
	c2 := &consumed{seen: map[int]bool{}, count: map[string]int{}}
	d := startMember(t, s, "d", group, topic, c2)
	waitFor(t, 15*time.Second, "the records produced after the first session", func() bool { return c2.has(600, 650) })
	d.stop(t)
	c2.mu.Lock()
	defer c2.mu.Unlock()
	for i := range c2.seen {
		if i < 600 {
			t.Fatalf("the second session consumed record %d, committed by the first", i)
		}
	}
}

// TestGroupAdmin lists, describes and deletes a group through kadm, while it
// has a member and after.
func TestGroupAdmin(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 30*time.Second)
	topic := newTopic(t, l, 2)
	group := "adm-" + topic
	adm := kadm.NewClient(client(t, s))
	produceRange(t, client(t, s, kgo.DefaultProduceTopic(topic)), ctx, 0, 10)
	c := &consumed{seen: map[int]bool{}, count: map[string]int{}}
	m := startMember(t, s, "m", group, topic, c)
	waitFor(t, 10*time.Second, "the member to consume every record", func() bool { return c.has(0, 10) && split(2, m) })

	var dg kadm.DescribedGroup
	waitFor(t, 5*time.Second, "the group to be stable", func() bool {
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		dg = described[group]
		return dg.State == "Stable"
	})
	if dg.Err != nil || dg.ProtocolType != "consumer" || dg.Protocol != "cooperative-sticky" || len(dg.Members) != 1 {
		t.Fatalf("described %+v", dg)
	}
	if a, ok := dg.Members[0].Assigned.AsConsumer(); !ok || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 2 {
		t.Fatalf("member assignment %+v", dg.Members[0].Assigned)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed[group]; !ok || lg.State != "Stable" || lg.ProtocolType != "consumer" {
		t.Fatalf("listed %+v", listed)
	}
	del, err := adm.DeleteGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(del[group].Err, kerr.NonEmptyGroup) {
		t.Fatalf("delete of a group with a member: %v, want NON_EMPTY_GROUP", del[group].Err)
	}

	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	m.stop(t)
	// Without members the group lives on in its offsets: Empty.
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if dg := described[group]; dg.State != "Empty" || len(dg.Members) != 0 {
		t.Fatalf("after the member left: %+v", dg)
	}
	if listed, err = adm.ListGroups(ctx, "Empty"); err != nil {
		t.Fatal(err)
	}
	if _, ok := listed[group]; !ok {
		t.Fatalf("ListGroups(Empty) lacks %s: %v", group, listed.Groups())
	}
	if listed, err = adm.ListGroups(ctx, "Stable"); err != nil {
		t.Fatal(err)
	}
	if _, ok := listed[group]; ok {
		t.Fatalf("ListGroups(Stable) lists the empty group %s", group)
	}

	if del, err = adm.DeleteGroups(ctx, group); err != nil || del[group].Err != nil {
		t.Fatalf("delete: %v %v", err, del[group].Err)
	}
	if offs, err := l.CommittedOffsets(ctx, group, topic); err != nil || len(offs) != 0 {
		t.Fatalf("offsets after delete: %v %v", offs, err)
	}
	if fetched, err := adm.FetchOffsets(ctx, group); err != nil || len(fetched) != 0 {
		t.Fatalf("fetched after delete: %v %v", fetched, err)
	}
	if described, err = adm.DescribeGroups(ctx, group); err != nil || described[group].State != "Dead" {
		t.Fatalf("described after delete: %+v %v", described[group], err)
	}
	if del, err = adm.DeleteGroups(ctx, group); err != nil || !errors.Is(del[group].Err, kerr.GroupIDNotFound) {
		t.Fatalf("second delete: %v %v, want GROUP_ID_NOT_FOUND", err, del[group].Err)
	}
}

// TestGroupOffsetsShared: Kafka groups and Braid's sink groups share one
// namespace of committed offsets; Kafka's next offset N is Braid's N-1.
func TestGroupOffsetsShared(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 30*time.Second)
	topic := newTopic(t, l, 3)
	group := "shared-" + topic
	adm := kadm.NewClient(client(t, s))

	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 10, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: topic, Partition: 1, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
		t.Fatal(err)
	}
	committed, err := l.CommittedOffsets(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]int64{0: 9, 1: -1}; !maps.Equal(committed, want) {
		t.Fatalf("the log holds %v, want %v", committed, want)
	}
	if err := l.CommitOffset(ctx, group, topic, 2, 41); err != nil {
		t.Fatal(err)
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]int64{}
	fetched.Each(func(o kadm.OffsetResponse) { got[o.Partition] = o.At })
	if want := map[int32]int64{0: 10, 1: 0, 2: 42}; !maps.Equal(got, want) {
		t.Fatalf("fetched %v, want %v", got, want)
	}

	// Unknown topics and partitions are refused.
	var bad kadm.Offsets
	bad.Add(kadm.Offset{Topic: "no_such_topic", Partition: 0, At: 1, LeaderEpoch: -1})
	bad.Add(kadm.Offset{Topic: topic, Partition: 7, At: 1, LeaderEpoch: -1})
	resps, err := adm.CommitOffsets(ctx, group, bad)
	if err != nil {
		t.Fatal(err)
	}
	resps.Each(func(r kadm.OffsetResponse) {
		if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("commit %s/%d: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Topic, r.Partition, r.Err)
		}
	})

	// A Braid sink group is an Empty consumer group to Kafka tools.
	sink := "sink-" + topic
	if err := l.CommitOffset(ctx, sink, topic, 0, 5); err != nil {
		t.Fatal(err)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed[sink]; !ok || lg.State != "Empty" || lg.ProtocolType != "consumer" {
		t.Fatalf("listed %+v", listed)
	}
	described, err := adm.DescribeGroups(ctx, sink)
	if err != nil {
		t.Fatal(err)
	}
	if dg := described[sink]; dg.State != "Empty" || dg.ProtocolType != "consumer" || dg.Err != nil {
		t.Fatalf("described %+v", dg)
	}
	if fetched, err = adm.FetchOffsets(ctx, sink); err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup(topic, 0); !ok || o.At != 6 {
		t.Fatalf("fetched %+v, want 6", fetched)
	}
}

// TestOffsetFetchShapes answers OffsetFetch in both shapes: one group
// (v1–v7, topics nil for all of them) and the v8 batch.
func TestOffsetFetchShapes(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 30*time.Second)
	topic := newTopic(t, l, 2)
	group := "shapes-" + topic
	if err := l.CommitOffset(ctx, group, topic, 1, 7); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int16{1, 7} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.Group = v, group
		if v == 1 {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = topic, []int32{0, 1}
			req.Topics = append(req.Topics, rt)
		}
		resp := s.groups.offsetFetch(ctx, req).(*kmsg.OffsetFetchResponse)
		got := map[int32]int64{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic != topic || rp.ErrorCode != 0 {
					t.Fatalf("v%d: %s/%d error %d", v, rt.Topic, rp.Partition, rp.ErrorCode)
				}
				got[rp.Partition] = rp.Offset
			}
		}
		want := map[int32]int64{1: 8}
		if v == 1 {
			want[0] = -1
		}
		if resp.ErrorCode != 0 || !maps.Equal(got, want) {
			t.Fatalf("v%d: error %d offsets %v, want %v", v, resp.ErrorCode, got, want)
		}
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	for _, g := range []string{group, "", "nothing-" + topic} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		req.Groups = append(req.Groups, rg)
	}
	resp := s.groups.offsetFetch(ctx, req).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 3 {
		t.Fatalf("%d groups answered, want 3", len(resp.Groups))
	}
	if g := resp.Groups[0]; g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 1 || g.Topics[0].Partitions[0].Offset != 8 {
		t.Fatalf("v8 group %s: %+v", group, g)
	}
	if g := resp.Groups[1]; g.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("v8 empty group: error %d, want INVALID_GROUP_ID", g.ErrorCode)
	}
	if g := resp.Groups[2]; g.ErrorCode != 0 || len(g.Topics) != 0 {
		t.Fatalf("v8 group without offsets: %+v", g)
	}
}

// TestGroupErrorCodes drives the protocol with raw requests and checks the
// error codes Kafka answers with.
func TestGroupErrorCodes(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 30*time.Second)
	cl := client(t, s)
	const group = "codes"

	join := func(memberID string, ptype string, session int32) *kmsg.JoinGroupResponse {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, memberID, ptype
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = session, 2000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte("meta-"+memberID)
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	heartbeat := func(memberID string, gen int32) int16 {
		t.Helper()
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = group, memberID, gen
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	commit := func(memberID string, gen int32) int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = group, memberID, gen
		topic := newTopic(t, l, 1)
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	expect := func(what string, got int16, want *kerr.Error) {
		t.Helper()
		var code int16
		if want != nil {
			code = want.Code
		}
		if got != code {
			t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
		}
	}

	first := join("", "consumer", 1000)
	expect("first join", first.ErrorCode, kerr.MemberIDRequired)
	a := first.MemberID
	if a == "" {
		t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}
	expect("join with another protocol type", join("", "connect", 1000).ErrorCode, kerr.MemberIDRequired)
	ja := join(a, "consumer", 1000)
	expect("join with the member id", ja.ErrorCode, nil)
	if ja.Generation != 1 || ja.LeaderID != a || len(ja.Members) != 1 || string(ja.Members[0].ProtocolMetadata) != "meta-"+a || ja.Protocol == nil || *ja.Protocol != "range" {
		t.Fatalf("join answer %+v", ja)
	}
	expect("join of another protocol type", join("x", "connect", 1000).ErrorCode, kerr.InconsistentGroupProtocol)
	expect("join with an unknown member id", join("ghost", "consumer", 1000).ErrorCode, kerr.UnknownMemberID)
	expect("join with a 10 ms session", join("", "consumer", 10).ErrorCode, kerr.InvalidSessionTimeout)

	expect("heartbeat of an unknown member", heartbeat("ghost", 1), kerr.UnknownMemberID)
	expect("heartbeat of a wrong generation", heartbeat(a, 2), kerr.IllegalGeneration)
	expect("heartbeat before sync", heartbeat(a, 1), nil)
	expect("commit before sync", commit(a, 1), kerr.RebalanceInProgress)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = group, a, 1
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = a, []byte("assigned")
	sync.GroupAssignment = append(sync.GroupAssignment, sa)
	sresp, err := sync.RequestWith(ctx, cl)
	if err != nil || sresp.ErrorCode != 0 || string(sresp.MemberAssignment) != "assigned" {
		t.Fatalf("sync: %v %+v", err, sresp)
	}
	sync.Generation = 3
	if sresp, err = sync.RequestWith(ctx, cl); err != nil || sresp.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("sync of a wrong generation: %v %+v", err, sresp)
	}
	expect("heartbeat when stable", heartbeat(a, 1), nil)
	expect("commit of a member", commit(a, 1), nil)
	expect("commit of a wrong generation", commit(a, 7), kerr.IllegalGeneration)
	expect("commit without membership into a group with members", commit("", -1), kerr.UnknownMemberID)

	// A second member's join starts a rebalance; a's heartbeat learns of it.
	// It joins on its own client: requests of one connection are answered in
	// order, and its join waits for a's.
	b := join("", "consumer", 1000).MemberID
	clb := client(t, s)
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, b, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 1000, 2000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, clb)
		if err != nil {
			t.Error(err)
		}
		joined <- resp
	}()
	waitFor(t, 5*time.Second, "a's heartbeat to see the rebalance", func() bool {
		return heartbeat(a, 1) == kerr.RebalanceInProgress.Code
	})
	expect("commit during the rebalance", commit(a, 1), nil)
	ja = join(a, "consumer", 1000)
	jb := <-joined
	if ja.ErrorCode != 0 || jb == nil || jb.ErrorCode != 0 || ja.Generation != 2 || jb.Generation != 2 || ja.LeaderID != a || len(ja.Members) != 2 || len(jb.Members) != 0 {
		t.Fatalf("rejoin: a %+v b %+v", ja, jb)
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = group
	for _, id := range []string{b, "ghost"} {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = id
		leave.Members = append(leave.Members, m)
	}
	lresp, err := leave.RequestWith(ctx, cl)
	if err != nil || lresp.ErrorCode != 0 || len(lresp.Members) != 2 || lresp.Members[0].ErrorCode != 0 || lresp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %v %+v", err, lresp)
	}

	// a stops heartbeating: its session expires, and the group lives on in
	// its offsets only.
	waitFor(t, 10*time.Second, "a's session to expire", func() bool {
		dg := s.groups.describe(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{group}}).(*kmsg.DescribeGroupsResponse).Groups[0]
		return dg.State == "Empty" && len(dg.Members) == 0
	})
	expect("heartbeat after the session expired", heartbeat(a, 2), kerr.UnknownMemberID)

	// Bad group ids, and the coordinator of transactions.
	req := kmsg.NewPtrHeartbeatRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("heartbeat of the empty group: %v %+v", err, resp)
	}
	for _, v := range []int16{3, 4} {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorType, fc.CoordinatorKey, fc.CoordinatorKeys = v, 1, "txn", []string{"txn"}
		fr := s.groups.findCoordinator(fc).(*kmsg.FindCoordinatorResponse)
		code := fr.ErrorCode
		if v == 4 {
			code = fr.Coordinators[0].ErrorCode
		}
		expect(fmt.Sprintf("FindCoordinator v%d of a transaction", v), code, kerr.CoordinatorNotAvailable)
		fc.CoordinatorType = 0
		fr = s.groups.findCoordinator(fc).(*kmsg.FindCoordinatorResponse)
		node, port := fr.NodeID, fr.Port
		if v == 4 {
			node, port = fr.Coordinators[0].NodeID, fr.Coordinators[0].Port
		}
		if node != s.opts.NodeID || port != s.port {
			t.Fatalf("FindCoordinator v%d of a group: %+v", v, fr)
		}
	}
}

// TestGroupStaticMember: a static member (KIP-345) joins without
// MEMBER_ID_REQUIRED; its next incarnation takes over the instance id and
// fences the old member id.
func TestGroupStaticMember(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 20*time.Second)
	cl := client(t, s)
	const group = "static"
	join := func(protocol string) *kmsg.JoinGroupResponse {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.InstanceID, req.ProtocolType = group, kmsg.StringPtr("i1"), "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 5000, 2000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = protocol
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("join: %v %+v", err, resp)
		}
		return resp
	}
	first := join("range")
	if first.Generation != 1 || first.LeaderID != first.MemberID {
		t.Fatalf("first join %+v", first)
	}
	second := join("sticky")
	if second.MemberID == first.MemberID || second.Generation != 2 || len(second.Members) != 1 || *second.Protocol != "sticky" {
		t.Fatalf("second join %+v", second)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.InstanceID, hb.Generation = group, first.MemberID, kmsg.StringPtr("i1"), 1
	resp, err := hb.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("heartbeat of the old incarnation: %v %+v, want FENCED_INSTANCE_ID", err, resp)
	}
	hb.MemberID, hb.Generation = second.MemberID, 2
	if resp, err = hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("heartbeat of the new incarnation: %v %+v", err, resp)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.InstanceID = kmsg.StringPtr("i1")
	leave.Members = append(leave.Members, lm)
	lresp, err := leave.RequestWith(ctx, cl)
	if err != nil || len(lresp.Members) != 1 || lresp.Members[0].ErrorCode != 0 {
		t.Fatalf("leave by instance id: %v %+v", err, lresp)
	}
	s.groups.mu.Lock()
	_, held := s.groups.m[group]
	s.groups.mu.Unlock()
	if held {
		t.Fatal("the group is still held after its only member left")
	}
}

// TestGroupBounds: group ids, sizes and member counts are bounded.
func TestGroupBounds(t *testing.T) {
	l := testLog(t)
	s := testServer(t, l)
	ctx := ctxT(t, 20*time.Second)
	join := func(group string, meta []byte) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version, req.Group, req.ProtocolType = 9, group, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 5000, 5000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", meta
		req.Protocols = append(req.Protocols, p)
		return s.groups.join(ctx, req).(*kmsg.JoinGroupResponse)
	}
	long := string(make([]byte, maxGroupID+1))
	for _, c := range []struct {
		what  string
		group string
		meta  []byte
		want  *kerr.Error
	}{
		{"empty group id", "", nil, kerr.InvalidGroupID},
		{"group id too long", long, nil, kerr.InvalidGroupID},
		{"metadata too big", "big", make([]byte, maxMemberMetadata+1), kerr.InvalidRequest},
	} {
		if got := join(c.group, c.meta).ErrorCode; got != c.want.Code {
			t.Errorf("%s: %v, want %v", c.what, kerr.ErrorForCode(got), c.want)
		}
	}
	for i := range maxGroupMembers {
		if got := join("full", nil).ErrorCode; got != kerr.MemberIDRequired.Code {
			t.Fatalf("join %d: %v", i, kerr.ErrorForCode(got))
		}
	}
	if got := join("full", nil).ErrorCode; got != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("join beyond %d members: %v, want GROUP_MAX_SIZE_REACHED", maxGroupMembers, kerr.ErrorForCode(got))
	}
}
