package kafka

import (
	"context"
	"log/slog"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groups is the group coordinator: the classic consumer group protocol,
// with committed offsets in Braid's own offsets bucket.
type groups struct {
	l      *log.Log
	logger *slog.Logger
	s      *Server
}

func newGroups(l *log.Log, logger *slog.Logger, s *Server) *groups {
	return &groups{l: l, logger: logger, s: s}
}

func (g *groups) close() {}

// handle starts a group request; nil when req is not one.
func (g *groups) handle(ctx context.Context, req kmsg.Request) func() kmsg.Response {
	switch req.(type) {
	case *kmsg.FindCoordinatorRequest, *kmsg.JoinGroupRequest, *kmsg.SyncGroupRequest, *kmsg.HeartbeatRequest,
		*kmsg.LeaveGroupRequest, *kmsg.OffsetCommitRequest, *kmsg.OffsetFetchRequest, *kmsg.DescribeGroupsRequest,
		*kmsg.ListGroupsRequest, *kmsg.DeleteGroupsRequest:
		resp := req.ResponseKind()
		return now(resp)
	}
	return nil
}
