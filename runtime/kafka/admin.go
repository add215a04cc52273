package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// admin starts the topic and cluster administration APIs; nil when req is
// not one of them.
func (s *Server) admin(cn *conn, req kmsg.Request) func() kmsg.Response {
	switch r := req.(type) {
	case *kmsg.ListOffsetsRequest:
		return now(s.listOffsets(cn.ctx, r))
	case *kmsg.CreateTopicsRequest, *kmsg.DeleteTopicsRequest,
		*kmsg.CreatePartitionsRequest, *kmsg.DescribeConfigsRequest, *kmsg.DescribeClusterRequest:
		// Not answered yet: an empty answer of the right kind.
		resp := req.ResponseKind()
		return now(resp)
	}
	return nil
}
