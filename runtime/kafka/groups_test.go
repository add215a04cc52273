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
)

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

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
