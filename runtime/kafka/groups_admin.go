package kafka

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator key types of FindCoordinator.
const (
	coordinatorGroup       int8 = 0
	coordinatorTransaction int8 = 1
)

// maxDescribeGroups bounds the groups of one DescribeGroups, DeleteGroups
// or FindCoordinator request.
const maxDescribeGroups = 1000

// findCoordinator answers FindCoordinator: the broker rendezvous hashing
// picks for the group (cluster.go); transactions have no coordinator.
func (g *groups) findCoordinator(req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	v := g.s.cl.current()
	answer := func(key string) (int16, *string) {
		switch req.CoordinatorType {
		case coordinatorGroup:
			return 0, nil
		case coordinatorTransaction:
			return kerr.CoordinatorNotAvailable.Code, kmsg.StringPtr("braid does not support Kafka transactions")
		default:
			return kerr.InvalidRequest.Code, kmsg.StringPtr("unknown coordinator key type")
		}
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorKey)
		if resp.ErrorCode == 0 {
			b := v.coordinator(req.CoordinatorKey)
			resp.NodeID, resp.Host, resp.Port = b.ID, b.Host, b.Port
		} else {
			resp.NodeID, resp.Port = -1, -1
		}
		return resp
	}
	keys := req.CoordinatorKeys
	if len(keys) > maxDescribeGroups {
		keys = keys[:maxDescribeGroups]
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode, c.ErrorMessage = answer(key)
		if c.ErrorCode == 0 {
			b := v.coordinator(key)
			c.NodeID, c.Host, c.Port = b.ID, b.Host, b.Port
		} else {
			c.NodeID, c.Port = -1, -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}

// describe answers DescribeGroups. A group without members but with offsets
// (a Braid sink group, or a Kafka group whose members left) is Empty; one
// with neither is Dead, as Kafka answers for an unknown group.
func (g *groups) describe(ctx context.Context, req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	ctx, cancel := context.WithTimeout(ctx, offsetTimeout)
	defer cancel()
	for i, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = -2147483648 // not asked for, or not computed
		if i >= maxDescribeGroups {
			dg.ErrorCode = kerr.InvalidRequest.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if dg.ErrorCode = checkGroupID(id); dg.ErrorCode != 0 {
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if !g.coordinates(id) {
			dg.ErrorCode = kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if g.describeMembers(id, &dg) {
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		topics, err := g.l.GroupTopics(ctx, id)
		switch {
		case err != nil:
			dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		case len(topics) > 0:
			dg.State, dg.ProtocolType = string(stateEmpty), "consumer"
		default:
			dg.State = string(stateDead)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// describeMembers fills dg from a group in memory; false when there is none.
// Client ids and hosts are not known to the coordinator and stay "".
func (g *groups) describeMembers(id string, dg *kmsg.DescribeGroupsResponseGroup) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr := g.m[id]
	if gr == nil {
		return false
	}
	dg.State, dg.ProtocolType = string(gr.state), gr.protocolType
	stable := gr.state == stateStable
	if stable {
		dg.Protocol = gr.protocol
	}
	ids := make([]string, 0, len(gr.members))
	for mid := range gr.members {
		ids = append(ids, mid)
	}
	slices.Sort(ids)
	for _, mid := range ids {
		m := gr.members[mid]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		if m.instance != "" {
			dm.InstanceID = kmsg.StringPtr(m.instance)
		}
		if stable {
			dm.ProtocolMetadata, dm.MemberAssignment = m.metadata(gr.protocol), m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return true
}

// list answers ListGroups: the groups this broker coordinates, with members
// or with offsets (Braid's sink groups among them, as Empty "consumer"
// groups). As in Kafka, a client asks every broker for the whole list.
func (g *groups) list(ctx context.Context, req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	ctx, cancel := context.WithTimeout(ctx, offsetTimeout)
	defer cancel()
	want := func(state groupState) bool {
		if len(req.StatesFilter) == 0 {
			return true
		}
		for _, s := range req.StatesFilter {
			if strings.EqualFold(s, string(state)) {
				return true
			}
		}
		return false
	}
	v := g.s.cl.current()
	seen := map[string]bool{}
	g.mu.Lock()
	for id, gr := range g.m {
		seen[id] = true
		if want(gr.state) && v.coordinates(id) {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState = id, gr.protocolType, string(gr.state)
			resp.Groups = append(resp.Groups, lg)
		}
	}
	g.mu.Unlock()
	stored, err := g.l.Groups(ctx)
	if err != nil {
		g.logger.Warn("kafka list groups", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	for _, id := range stored {
		if !seen[id] && want(stateEmpty) && v.coordinates(id) {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState = id, "consumer", string(stateEmpty)
			resp.Groups = append(resp.Groups, lg)
		}
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

// deleteGroups answers DeleteGroups: a group with members is refused
// (NON_EMPTY_GROUP); otherwise its offsets for every topic are deleted.
// Braid's sink groups are among the groups it can delete: the coordinator
// does not know whether a sink is running on one.
func (g *groups) deleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	ctx, cancel := context.WithTimeout(ctx, offsetTimeout)
	defer cancel()
	for i, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		switch {
		case i >= maxDescribeGroups:
			dg.ErrorCode = kerr.InvalidRequest.Code
		default:
			dg.ErrorCode = g.deleteGroup(ctx, id)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (g *groups) deleteGroup(ctx context.Context, id string) int16 {
	if c := checkGroupID(id); c != 0 {
		return c
	}
	if !g.coordinates(id) {
		return kerr.NotCoordinator.Code
	}
	g.mu.Lock()
	gr := g.m[id]
	if gr != nil && (len(gr.members) > 0 || len(gr.pending) > 0) {
		g.mu.Unlock()
		return kerr.NonEmptyGroup.Code
	}
	if gr != nil {
		gr.state = stateDead
		delete(g.m, id)
	}
	g.mu.Unlock()
	topics, err := g.l.GroupTopics(ctx, id)
	if err != nil {
		g.logger.Warn("kafka delete group: list its topics", "group", id, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	if len(topics) == 0 && gr == nil {
		return kerr.GroupIDNotFound.Code
	}
	for _, t := range topics {
		if err := g.l.DeleteOffsets(ctx, id, t); err != nil {
			g.logger.Warn("kafka delete group: delete offsets", "group", id, "topic", t, "err", err)
			return kerr.CoordinatorNotAvailable.Code
		}
	}
	g.logger.Info("kafka group deleted", "group", id, "topics", len(topics))
	return 0
}
