package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bounds of what group clients may send and make the coordinator hold.
const (
	maxGroupID        = 255     // bytes of a group id (and of an instance id)
	maxGroupMembers   = 1000    // members and pending members of one group (Kafka's group.max.size is unbounded by default)
	maxGroups         = 10_000  // groups with members held in memory
	maxMemberMetadata = 1 << 20 // bytes of a member's protocol metadata, all protocols together
	maxAssignment     = 1 << 20 // bytes of one member's assignment
	maxProtocols      = 64      // protocols one member offers
	minSession        = time.Second
	maxSession        = 30 * time.Minute // Kafka's group.max.session.timeout.ms
	maxRebalance      = 30 * time.Minute
	sweepEvery        = 100 * time.Millisecond // how often session and rebalance deadlines are checked
)

// Group states, as DescribeGroups and ListGroups name them.
type groupState string

const (
	stateEmpty               groupState = "Empty"
	statePreparingRebalance  groupState = "PreparingRebalance"
	stateCompletingRebalance groupState = "CompletingRebalance"
	stateStable              groupState = "Stable"
	stateDead                groupState = "Dead"
)

// groups is the group coordinator: the classic consumer group protocol
// (assignors run in the clients), with committed offsets in Braid's own
// offsets bucket, one namespace with Braid's sink groups.
//
// Membership lives in memory, in the process of the group's coordinator:
// the broker rendezvous hashing picks among the live ones (cluster.go).
// Requests for a group another broker coordinates are answered
// NOT_COORDINATOR, so the client finds the coordinator again. When the
// coordinator moves (a broker joins or leaves) or restarts, the members
// rejoin at the new one, as after a coordinator move in Kafka; committed
// offsets are in the shared offsets bucket, so the group resumes there.
//
// One mutex guards all membership state; nothing under it does I/O.
// Requests that wait (JoinGroup for the rebalance, SyncGroup for the
// leader's assignment) wait on a channel of their member, on the
// connection's writer goroutine. A sweeper expires sessions and ends
// rebalances whose timeout passed.
type groups struct {
	l      *log.Log
	logger *slog.Logger
	s      *Server

	mu sync.Mutex
	m  map[string]*group // groups with members or pending members

	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// group is one consumer group's membership.
type group struct {
	id           string
	state        groupState
	generation   int32
	protocolType string
	protocol     string // chosen for the current generation
	leader       string
	members      map[string]*member
	pending      map[string]time.Time // member ids handed out by MEMBER_ID_REQUIRED, until their deadline
	instances    map[string]string    // static instance id → member id

	rebalanceDeadline time.Time // PreparingRebalance: members that have not rejoined by then are removed
	syncDeadline      time.Time // CompletingRebalance: members that have not synced by then are removed
}

// member is one group member.
type member struct {
	id        string
	instance  string // "" for a dynamic member
	protocols []kmsg.JoinGroupRequestProtocol
	session   time.Duration
	rebalance time.Duration
	deadline  time.Time // session expiry, while not waiting in a join or sync

	joining    chan joinResult // set while its JoinGroup waits for the rebalance
	syncing    chan syncResult // set while its SyncGroup waits for the leader
	synced     bool            // sent SyncGroup in this generation
	assignment []byte
}

type joinResult struct {
	code       int16
	generation int32
	protocol   string
	ptype      string
	leader     string
	memberID   string
	members    []kmsg.JoinGroupResponseMember // for the leader only
}

type syncResult struct {
	code       int16
	assignment []byte
}

func newGroups(l *log.Log, logger *slog.Logger, s *Server) *groups {
	g := &groups{l: l, logger: logger, s: s, m: map[string]*group{}, done: make(chan struct{})}
	g.wg.Add(1)
	go g.sweep()
	return g
}

// close stops the sweeper and answers every waiting request. Idempotent.
func (g *groups) close() {
	g.once.Do(func() {
		close(g.done)
		g.wg.Wait()
	})
}

// handle starts a group request; nil when req is not one. The work runs in
// the thunk, so requests of one connection take effect in request order.
func (g *groups) handle(ctx context.Context, req kmsg.Request) func() kmsg.Response {
	if resp := g.notCoordinator(req); resp != nil {
		return func() kmsg.Response { return resp }
	}
	switch r := req.(type) {
	case *kmsg.FindCoordinatorRequest:
		return func() kmsg.Response { return g.findCoordinator(r) }
	case *kmsg.JoinGroupRequest:
		return func() kmsg.Response { return g.join(ctx, r) }
	case *kmsg.SyncGroupRequest:
		return func() kmsg.Response { return g.syncGroup(ctx, r) }
	case *kmsg.HeartbeatRequest:
		return func() kmsg.Response { return g.heartbeat(r) }
	case *kmsg.LeaveGroupRequest:
		return func() kmsg.Response { return g.leave(r) }
	case *kmsg.OffsetCommitRequest:
		return func() kmsg.Response { return g.offsetCommit(ctx, r) }
	case *kmsg.OffsetFetchRequest:
		return func() kmsg.Response { return g.offsetFetch(ctx, r) }
	case *kmsg.DescribeGroupsRequest:
		return func() kmsg.Response { return g.describe(ctx, r) }
	case *kmsg.ListGroupsRequest:
		return func() kmsg.Response { return g.list(ctx, r) }
	case *kmsg.DeleteGroupsRequest:
		return func() kmsg.Response { return g.deleteGroups(ctx, r) }
	}
	return nil
}

// notCoordinator answers NOT_COORDINATOR to a one-group request for a group
// another broker coordinates; nil otherwise. Requests naming several groups
// (OffsetFetch v8, DescribeGroups, DeleteGroups) answer it per group.
func (g *groups) notCoordinator(req kmsg.Request) kmsg.Response {
	nc := kerr.NotCoordinator.Code
	var group string
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		group = r.Group
	case *kmsg.SyncGroupRequest:
		group = r.Group
	case *kmsg.HeartbeatRequest:
		group = r.Group
	case *kmsg.LeaveGroupRequest:
		group = r.Group
	case *kmsg.OffsetCommitRequest:
		group = r.Group
	default:
		return nil
	}
	if g.coordinates(group) {
		return nil
	}
	resp := req.ResponseKind()
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode, r.Generation = nc, -1
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = nc
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = nc
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = nc
	case *kmsg.OffsetCommitResponse:
		for _, t := range req.(*kmsg.OffsetCommitRequest).Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, nc
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	return resp
}

// coordinates reports whether this broker coordinates the group.
func (g *groups) coordinates(group string) bool { return g.s.cl.current().coordinates(group) }

// checkGroupID returns INVALID_GROUP_ID for an id no group can have.
func checkGroupID(id string) int16 {
	if id == "" || len(id) > maxGroupID {
		return kerr.InvalidGroupID.Code
	}
	return 0
}

func newMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "braid-" + hex.EncodeToString(b[:])
}

// sweep expires sessions and rebalances until close.
func (g *groups) sweep() {
	defer g.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case now := <-t.C:
			g.expire(now)
		}
	}
}

// expire removes members whose session or rebalance deadline passed.
func (g *groups) expire(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, gr := range g.m {
		for id, dl := range gr.pending {
			if now.After(dl) {
				delete(gr.pending, id)
			}
		}
		for _, m := range gr.members {
			if m.joining == nil && m.syncing == nil && now.After(m.deadline) {
				g.logger.Info("kafka group member session expired", "group", gr.id, "member", m.id)
				g.removeMember(gr, m, kerr.UnknownMemberID.Code)
			}
		}
		switch gr.state {
		case statePreparingRebalance:
			if now.After(gr.rebalanceDeadline) {
				for _, m := range gr.members {
					if m.joining == nil {
						g.logger.Info("kafka group member did not rejoin in time", "group", gr.id, "member", m.id)
						g.dropMember(gr, m, kerr.UnknownMemberID.Code)
					}
				}
				g.completeJoin(gr)
			} else {
				g.maybeCompleteJoin(gr)
			}
		case stateCompletingRebalance:
			if now.After(gr.syncDeadline) {
				for _, m := range gr.members {
					if !m.synced {
						g.logger.Info("kafka group member did not sync in time", "group", gr.id, "member", m.id)
						g.removeMember(gr, m, kerr.UnknownMemberID.Code)
					}
				}
			}
		}
		g.forgetIfEmpty(gr)
	}
}

// forgetIfEmpty drops a group without members from memory: its offsets
// stay in the log, where ListGroups and DescribeGroups find them.
func (g *groups) forgetIfEmpty(gr *group) {
	if gr.state == stateEmpty && len(gr.members) == 0 && len(gr.pending) == 0 {
		delete(g.m, gr.id)
	}
}

// dropMember removes a member without starting a rebalance; a waiting
// request of it is answered with code.
func (g *groups) dropMember(gr *group, m *member, code int16) {
	if m.joining != nil {
		m.joining <- joinResult{code: code, generation: -1, memberID: m.id}
		m.joining = nil
	}
	if m.syncing != nil {
		m.syncing <- syncResult{code: code}
		m.syncing = nil
	}
	delete(gr.members, m.id)
	if m.instance != "" && gr.instances[m.instance] == m.id {
		delete(gr.instances, m.instance)
	}
	if gr.leader == m.id {
		gr.leader = ""
	}
}

// removeMember removes a member and rebalances the rest.
func (g *groups) removeMember(gr *group, m *member, code int16) {
	g.dropMember(gr, m, code)
	switch gr.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance(gr)
	case statePreparingRebalance:
		g.maybeCompleteJoin(gr)
	}
}
