package kafka

import (
	"bytes"
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// join answers JoinGroup: it adds or updates the member and waits until the
// rebalance completes (every member rejoined, or the rebalance timeout).
func (g *groups) join(ctx context.Context, req *kmsg.JoinGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.MemberID = req.MemberID
	fail := func(c int16) kmsg.Response { resp.ErrorCode = c; return resp }
	if c := checkGroupID(req.Group); c != 0 {
		return fail(c)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = session
	}
	if session < minSession || session > maxSession {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	if rebalance <= 0 || rebalance > maxRebalance {
		return fail(kerr.InvalidRequest.Code)
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 || len(req.Protocols) > maxProtocols {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	size := 0
	for _, p := range req.Protocols {
		size += len(p.Name) + len(p.Metadata)
	}
	if size > maxMemberMetadata {
		return fail(kerr.InvalidRequest.Code)
	}
	instance := ""
	if req.InstanceID != nil {
		if *req.InstanceID == "" || len(*req.InstanceID) > maxGroupID {
			return fail(kerr.InvalidRequest.Code)
		}
		instance = *req.InstanceID
	}
	protocols := make([]kmsg.JoinGroupRequestProtocol, len(req.Protocols))
	for i, p := range req.Protocols {
		protocols[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}

	g.mu.Lock()
	ch, res := g.joinLocked(req, instance, session, rebalance, protocols)
	g.mu.Unlock()
	if ch != nil {
		select {
		case res = <-ch:
		case <-ctx.Done():
			g.abandonJoin(req.Group, ch)
			res = joinResult{code: kerr.RebalanceInProgress.Code, generation: -1}
		case <-g.done:
			res = joinResult{code: kerr.CoordinatorNotAvailable.Code, generation: -1}
		}
	}
	resp.ErrorCode = res.code
	if res.memberID != "" {
		resp.MemberID = res.memberID
	}
	resp.Generation = res.generation
	if res.code == 0 {
		resp.Protocol = kmsg.StringPtr(res.protocol)
		resp.ProtocolType = kmsg.StringPtr(res.ptype)
		resp.LeaderID = res.leader
		resp.Members = res.members
	}
	return resp
}

// joinLocked applies a JoinGroup; it returns the channel to wait on, or the
// answer at once.
func (g *groups) joinLocked(req *kmsg.JoinGroupRequest, instance string, session, rebalance time.Duration, protocols []kmsg.JoinGroupRequestProtocol) (chan joinResult, joinResult) {
	now := time.Now()
	bad := func(c int16) (chan joinResult, joinResult) {
		return nil, joinResult{code: c, generation: -1}
	}
	gr, c := g.groupFor(req)
	if c != 0 {
		return bad(c)
	}
	self := req.MemberID
	if cur, ok := gr.instances[instance]; ok && instance != "" && self == "" {
		self = cur // a static member's new incarnation
	}
	if len(gr.members) > 0 && !gr.supports(req.ProtocolType, protocols, self) {
		return bad(kerr.InconsistentGroupProtocol.Code)
	}

	memberID := req.MemberID
	if instance != "" {
		if cur, ok := gr.instances[instance]; ok {
			switch {
			case memberID == "":
				return g.replaceStatic(gr, gr.members[cur], session, rebalance, protocols)
			case memberID != cur:
				return bad(kerr.FencedInstanceID.Code)
			}
		} else if memberID != "" {
			return bad(kerr.UnknownMemberID.Code)
		}
	}

	m := gr.members[memberID]
	_, isPending := gr.pending[memberID]
	switch {
	case m != nil:
		// A known member rejoins.
	case memberID == "" && instance == "" && req.Version >= 4:
		// KIP-394: hand out the id first; the member joins with it.
		if len(gr.members)+len(gr.pending) >= maxGroupMembers {
			return bad(kerr.GroupMaxSizeReached.Code)
		}
		id := newMemberID()
		gr.pending[id] = now.Add(session)
		return nil, joinResult{code: kerr.MemberIDRequired.Code, generation: -1, memberID: id}
	case memberID == "" || isPending:
		if !isPending && len(gr.members)+len(gr.pending) >= maxGroupMembers {
			return bad(kerr.GroupMaxSizeReached.Code)
		}
		delete(gr.pending, memberID)
		if memberID == "" {
			memberID = newMemberID()
		}
		if len(gr.members) == 0 {
			gr.protocolType = req.ProtocolType
		}
		m = &member{id: memberID, instance: instance}
		gr.members[memberID] = m
		if instance != "" {
			gr.instances[instance] = memberID
		}
	default:
		return bad(kerr.UnknownMemberID.Code)
	}

	same := sameProtocols(m.protocols, protocols)
	m.protocols, m.session, m.rebalance = protocols, session, rebalance
	m.deadline = now.Add(session)
	switch gr.state {
	case stateCompletingRebalance:
		if same {
			// A retry of a join whose answer was lost: the current generation.
			return nil, gr.joinAnswer(m)
		}
	case stateStable:
		if same && m.id != gr.leader {
			return nil, gr.joinAnswer(m)
		}
	}
	return g.awaitJoin(gr, m), joinResult{}
}

// awaitJoin makes m wait for the rebalance, starting one unless one is
// under way.
func (g *groups) awaitJoin(gr *group, m *member) chan joinResult {
	if m.joining != nil {
		// The same member joins again before its first join was answered
		// (its connection went away): the old request gets nothing useful.
		m.joining <- joinResult{code: kerr.RebalanceInProgress.Code, generation: -1, memberID: m.id}
	}
	ch := make(chan joinResult, 1)
	m.joining = ch
	if gr.state == statePreparingRebalance {
		g.maybeCompleteJoin(gr)
	} else {
		g.prepareRebalance(gr)
	}
	return ch
}

// groupFor returns the group a JoinGroup names, creating it for a member
// without an id.
func (g *groups) groupFor(req *kmsg.JoinGroupRequest) (*group, int16) {
	if gr := g.m[req.Group]; gr != nil {
		return gr, 0
	}
	if req.MemberID != "" {
		return nil, kerr.UnknownMemberID.Code
	}
	if len(g.m) >= maxGroups {
		g.logger.Warn("kafka group refused: too many groups with members", "group", req.Group, "max", maxGroups)
		return nil, kerr.GroupMaxSizeReached.Code
	}
	gr := &group{id: req.Group, state: stateEmpty, members: map[string]*member{}, pending: map[string]time.Time{}, instances: map[string]string{}}
	g.m[req.Group] = gr
	return gr, 0
}

// replaceStatic lets a static member's new incarnation take over its
// instance id (KIP-345): the old member id is fenced. When nothing changed
// and the member is a follower of a stable group, there is no rebalance: it
// syncs and gets its old assignment.
func (g *groups) replaceStatic(gr *group, old *member, session, rebalance time.Duration, protocols []kmsg.JoinGroupRequestProtocol) (chan joinResult, joinResult) {
	m := &member{id: newMemberID(), instance: old.instance, protocols: protocols, session: session, rebalance: rebalance,
		deadline: time.Now().Add(session), assignment: old.assignment, synced: old.synced}
	wasLeader := gr.leader == old.id
	same := sameProtocols(old.protocols, protocols)
	g.dropMember(gr, old, kerr.FencedInstanceID.Code)
	gr.members[m.id] = m
	gr.instances[m.instance] = m.id
	if wasLeader {
		gr.leader = m.id
	}
	if gr.state == stateStable && same && !wasLeader {
		return nil, gr.joinAnswer(m)
	}
	return g.awaitJoin(gr, m), joinResult{}
}

// abandonJoin forgets a join whose connection went away; the member stays
// until its session expires or the rebalance times it out.
func (g *groups) abandonJoin(id string, ch chan joinResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gr := g.m[id]; gr != nil {
		for _, m := range gr.members {
			if m.joining == ch {
				m.joining = nil
				m.deadline = time.Now().Add(m.session)
			}
		}
	}
}

// supports reports whether a joining member can be in the group: the same
// protocol type, and a protocol every other member offers (a member may
// change its own).
func (gr *group) supports(ptype string, protocols []kmsg.JoinGroupRequestProtocol, self string) bool {
	if ptype != gr.protocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range gr.members {
			if m.id != self && !m.offers(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *member) offers(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (m *member) metadata(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

// joinAnswer is the current generation's JoinGroup answer for m; the
// leader gets every member's metadata.
func (gr *group) joinAnswer(m *member) joinResult {
	r := joinResult{generation: gr.generation, protocol: gr.protocol, ptype: gr.protocolType, leader: gr.leader, memberID: m.id}
	if m.id == gr.leader {
		for _, o := range gr.members {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			if o.instance != "" {
				jm.InstanceID = kmsg.StringPtr(o.instance)
			}
			jm.ProtocolMetadata = o.metadata(gr.protocol)
			r.members = append(r.members, jm)
		}
	}
	return r
}

// prepareRebalance starts a rebalance: members learn it from Heartbeat
// (REBALANCE_IN_PROGRESS) and rejoin.
func (g *groups) prepareRebalance(gr *group) {
	if gr.state == stateCompletingRebalance {
		for _, m := range gr.members {
			if m.syncing != nil {
				m.syncing <- syncResult{code: kerr.RebalanceInProgress.Code}
				m.syncing = nil
			}
		}
	}
	var timeout time.Duration
	for _, m := range gr.members {
		timeout = max(timeout, m.rebalance)
	}
	gr.state = statePreparingRebalance
	gr.rebalanceDeadline = time.Now().Add(timeout)
	g.maybeCompleteJoin(gr)
}

// maybeCompleteJoin completes the rebalance when every member rejoined and
// no handed-out member id is still to join.
func (g *groups) maybeCompleteJoin(gr *group) {
	if gr.state != statePreparingRebalance || len(gr.pending) > 0 {
		return
	}
	for _, m := range gr.members {
		if m.joining == nil {
			return
		}
	}
	g.completeJoin(gr)
}

// completeJoin starts the next generation with the members that rejoined
// and answers their joins.
func (g *groups) completeJoin(gr *group) {
	gr.generation++
	if len(gr.members) == 0 {
		gr.state, gr.protocol, gr.leader = stateEmpty, "", ""
		return
	}
	gr.protocol = gr.selectProtocol()
	if _, ok := gr.members[gr.leader]; !ok {
		gr.leader = ""
		for id := range gr.members {
			if gr.leader == "" || id < gr.leader {
				gr.leader = id
			}
		}
	}
	gr.state = stateCompletingRebalance
	var timeout time.Duration
	now := time.Now()
	for _, m := range gr.members {
		timeout = max(timeout, m.rebalance)
		m.synced = false
		m.assignment = nil
		m.deadline = now.Add(m.session)
	}
	gr.syncDeadline = now.Add(timeout)
	for _, m := range gr.members {
		if m.joining != nil {
			m.joining <- gr.joinAnswer(m)
			m.joining = nil
		}
	}
}

// selectProtocol picks the protocol every member offers that most members
// prefer (Kafka's vote).
func (gr *group) selectProtocol() string {
	var candidates []string
	for _, m := range gr.members {
		for _, p := range m.protocols {
			all := true
			for _, o := range gr.members {
				if !o.offers(p.Name) {
					all = false
					break
				}
			}
			if all {
				candidates = append(candidates, p.Name)
			}
		}
		break // the candidates are among any one member's protocols
	}
	votes := map[string]int{}
	for _, m := range gr.members {
		for _, p := range m.protocols {
			if containsString(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// member finds a member of a request, checking a static instance id
// (FENCED_INSTANCE_ID when another incarnation holds it).
func (gr *group) member(memberID string, instance *string) (*member, int16) {
	if instance != nil && *instance != "" {
		if cur, ok := gr.instances[*instance]; ok && cur != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := gr.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// syncGroup answers SyncGroup: the leader's assignments are handed out;
// followers wait for them.
func (g *groups) syncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if c := checkGroupID(req.Group); c != 0 {
		resp.ErrorCode = c
		return resp
	}
	for _, a := range req.GroupAssignment {
		if len(a.MemberAssignment) > maxAssignment {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp
		}
	}
	g.mu.Lock()
	ch, res, ptype, proto := g.syncLocked(req)
	g.mu.Unlock()
	if ch != nil {
		select {
		case res = <-ch:
		case <-ctx.Done():
			g.abandonSync(req.Group, ch)
			res = syncResult{code: kerr.RebalanceInProgress.Code}
		case <-g.done:
			res = syncResult{code: kerr.CoordinatorNotAvailable.Code}
		}
	}
	resp.ErrorCode = res.code
	if res.code == 0 {
		resp.MemberAssignment = res.assignment
		resp.ProtocolType, resp.Protocol = kmsg.StringPtr(ptype), kmsg.StringPtr(proto)
	}
	return resp
}

func (g *groups) syncLocked(req *kmsg.SyncGroupRequest) (chan syncResult, syncResult, string, string) {
	bad := func(c int16) (chan syncResult, syncResult, string, string) { return nil, syncResult{code: c}, "", "" }
	gr := g.m[req.Group]
	if gr == nil {
		return bad(kerr.UnknownMemberID.Code)
	}
	m, c := gr.member(req.MemberID, req.InstanceID)
	if c != 0 {
		return bad(c)
	}
	if req.Generation != gr.generation {
		return bad(kerr.IllegalGeneration.Code)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != gr.protocolType) || (req.Protocol != nil && *req.Protocol != gr.protocol) {
		return bad(kerr.InconsistentGroupProtocol.Code)
	}
	m.deadline = time.Now().Add(m.session)
	switch gr.state {
	case statePreparingRebalance:
		return bad(kerr.RebalanceInProgress.Code)
	case stateStable:
		return nil, syncResult{assignment: m.assignment}, gr.protocolType, gr.protocol
	case stateCompletingRebalance:
	default:
		return bad(kerr.UnknownMemberID.Code)
	}
	m.synced = true
	if m.id == gr.leader {
		for _, a := range req.GroupAssignment {
			if o := gr.members[a.MemberID]; o != nil {
				o.assignment = bytes.Clone(a.MemberAssignment)
			}
		}
		gr.state = stateStable
		for _, o := range gr.members {
			if o.syncing != nil {
				o.syncing <- syncResult{assignment: o.assignment}
				o.syncing = nil
				o.deadline = time.Now().Add(o.session)
			}
		}
		return nil, syncResult{assignment: m.assignment}, gr.protocolType, gr.protocol
	}
	if m.syncing != nil {
		m.syncing <- syncResult{code: kerr.RebalanceInProgress.Code}
	}
	ch := make(chan syncResult, 1)
	m.syncing = ch
	return ch, syncResult{}, gr.protocolType, gr.protocol
}

func (g *groups) abandonSync(id string, ch chan syncResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gr := g.m[id]; gr != nil {
		for _, m := range gr.members {
			if m.syncing == ch {
				m.syncing = nil
				m.deadline = time.Now().Add(m.session)
			}
		}
	}
}

// heartbeat answers Heartbeat: it keeps the session and tells of a rebalance.
func (g *groups) heartbeat(req *kmsg.HeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = g.heartbeatCode(req)
	return resp
}

func (g *groups) heartbeatCode(req *kmsg.HeartbeatRequest) int16 {
	if c := checkGroupID(req.Group); c != 0 {
		return c
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gr := g.m[req.Group]
	if gr == nil {
		return kerr.UnknownMemberID.Code
	}
	m, c := gr.member(req.MemberID, req.InstanceID)
	if c != 0 {
		return c
	}
	if req.Generation != gr.generation {
		return kerr.IllegalGeneration.Code
	}
	m.deadline = time.Now().Add(m.session)
	switch gr.state {
	case statePreparingRebalance:
		return kerr.RebalanceInProgress.Code
	case stateEmpty, stateDead:
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// leave answers LeaveGroup: v0–v2 name one member, v3+ a batch.
func (g *groups) leave(req *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if c := checkGroupID(req.Group); c != 0 {
		resp.ErrorCode = c
		return resp
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if req.Version < 3 {
		resp.ErrorCode = g.leaveOne(req.Group, req.MemberID, nil)
		return resp
	}
	if len(req.Members) > maxGroupMembers {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	for _, lm := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = g.leaveOne(req.Group, lm.MemberID, lm.InstanceID)
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

func (g *groups) leaveOne(group, memberID string, instance *string) int16 {
	gr := g.m[group]
	if gr == nil {
		return kerr.UnknownMemberID.Code
	}
	if _, ok := gr.pending[memberID]; ok && memberID != "" {
		delete(gr.pending, memberID)
		g.maybeCompleteJoin(gr)
		g.forgetIfEmpty(gr)
		return 0
	}
	if instance != nil && *instance != "" && memberID == "" {
		// A static member may leave by instance id alone.
		cur, ok := gr.instances[*instance]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		memberID = cur
	}
	m, c := gr.member(memberID, instance)
	if c != 0 {
		return c
	}
	g.removeMember(gr, m, kerr.UnknownMemberID.Code)
	g.forgetIfEmpty(gr)
	return 0
}
