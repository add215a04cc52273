package plugin

import (
	"context"
	"fmt"

	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
)

// source is a plugin's source: the task's process and its Read stream.
type source struct {
	task
	// The Read stream; used by Read only, which the worker never calls
	// concurrently with itself.
	stream  pb.Connector_ReadClient
	cancel  context.CancelFunc
	results chan readResult
	pending int // requests sent and not yet answered (0 or 1)
}

type readResult struct {
	resp *pb.ReadResponse
	err  error
}

func (s *source) Open(ctx context.Context, pos sdk.Position) error {
	if err := s.launch(ctx); err != nil {
		return err
	}
	resp, err := s.p.client.Open(ctx, &pb.OpenRequest{Position: pos, HasPosition: pos != nil})
	if err == nil {
		err = fromError(resp.Error, s.c.spec.Name)
	}
	return s.call(err)
}

// Read pulls one batch. After a batch it asks for the next at once, so the
// plugin reads while the worker publishes; a batch that arrives after ctx
// ended is kept for the next Read, never dropped.
func (s *source) Read(ctx context.Context) ([]sdk.Record, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if s.stream == nil {
		sctx, cancel := context.WithCancel(context.Background())
		st, err := s.p.client.Read(sctx)
		if err != nil {
			cancel()
			return nil, s.call(err)
		}
		s.stream, s.cancel, s.results = st, cancel, make(chan readResult, 1)
		go receive(sctx, st, s.results)
	}
	if s.pending == 0 {
		if err := s.stream.Send(&pb.ReadRequest{}); err != nil {
			return nil, s.call(err)
		}
		s.pending++
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-s.results:
		s.pending--
		if r.err != nil {
			return nil, s.call(fmt.Errorf("read: %w", r.err))
		}
		recs, err := decode(r.resp.Batch)
		if err != nil {
			return nil, fmt.Errorf("plugin %s sent a bad batch: %w", s.c.spec.Name, err)
		}
		rerr := fromError(r.resp.Error, s.c.spec.Name)
		if rerr == nil && s.stream.Send(&pb.ReadRequest{}) == nil {
			s.pending++
		}
		return recs, rerr
	}
}

func receive(ctx context.Context, st pb.Connector_ReadClient, out chan<- readResult) {
	for {
		resp, err := st.Recv()
		select {
		case out <- readResult{resp, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *source) Ack(ctx context.Context, pos sdk.Position) error {
	if err := s.ready(); err != nil {
		return err
	}
	resp, err := s.p.client.Ack(ctx, &pb.AckRequest{Position: pos})
	if err == nil {
		err = fromError(resp.Error, s.c.spec.Name)
	}
	return s.call(err)
}

func (s *source) Close(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
	}
	return s.closeProcess(ctx)
}

type deleterSource struct{ *source }

func (s deleterSource) Deleted(ctx context.Context) error { return s.deleted(ctx) }

type notReplayableSource struct{ *source }

func (notReplayableSource) NotReplayable() {}

type notReplayableDeleterSource struct{ deleterSource }

func (notReplayableDeleterSource) NotReplayable() {}
