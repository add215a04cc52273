package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
	"google.golang.org/grpc"
)

// The environment variable that names the socket a plugin serves on, and
// the line it writes to standard output once it does.
const (
	SocketEnv = "BRAID_PLUGIN_SOCKET"
	readyLine = "braid-plugin 1 ready"
)

// maxMessage bounds one gRPC message either way: a batch of thousands of
// records is one message.
const maxMessage = 256 << 20

// A batch is hundreds of kilobytes: buffers and flow-control windows that
// hold one whole cost a few syscalls per batch instead of dozens, and no
// wait for a window update (measured with braid bench plugin).
const (
	ioBuffer = 1 << 20
	window   = 16 << 20
)

// Serve runs the connectors as a plugin executable: it serves the protocol
// on the socket the host named and returns when the host goes away (its
// standard input closes). Call it from main; it exits the process with
// status 1 when it cannot serve.
func Serve(plugins ...sdk.Plugin) {
	if err := ServeContext(context.Background(), plugins...); err != nil {
		fmt.Fprintln(os.Stderr, "braid plugin:", err)
		os.Exit(1)
	}
}

// ServeContext is Serve that returns an error instead of exiting, and also
// stops when ctx ends.
func ServeContext(ctx context.Context, plugins ...sdk.Plugin) error {
	path := os.Getenv(SocketEnv)
	if path == "" {
		return fmt.Errorf("%s is not set: this is a Braid connector plugin; put it in a --plugin-dir and the worker starts it", SocketEnv)
	}
	if len(plugins) == 0 {
		return errors.New("no connectors to serve")
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// A plugin's heap is mostly the batch in flight, which dies at once:
		// collecting less often costs little memory and much less CPU.
		debug.SetGCPercent(400)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage),
		grpc.WriteBufferSize(ioBuffer), grpc.ReadBufferSize(ioBuffer),
		grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window))
	cs := &connectorServer{plugins: plugins, logger: logger}
	pb.RegisterConnectorServer(srv, cs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The host holds our standard input open while it lives.
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	go func() {
		<-ctx.Done()
		srv.Stop()
		cs.closeInstance()
	}()
	if _, err := fmt.Fprintln(os.Stdout, readyLine); err != nil {
		return err
	}
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// connectorServer serves one process: the specs, validation, and at most one
// configured connector instance (the host starts a process per task).
type connectorServer struct {
	pb.UnimplementedConnectorServer
	plugins []sdk.Plugin
	logger  *slog.Logger

	specsOnce  sync.Once
	specs      []*pb.Spec
	hostPacked atomic.Bool   // the host reads packed batches
	hostMinor  atomic.Uint32 // the host's minor protocol version

	mu     sync.Mutex
	source sdk.Source
	sink   sdk.Sink
	spec   sdk.Spec
}

func (s *connectorServer) Handshake(_ context.Context, req *pb.HandshakeRequest) (*pb.HandshakeResponse, error) {
	if req.GetProtocol().GetMajor() != Protocol.Major {
		return nil, fmt.Errorf("host speaks plugin protocol v%d, this plugin v%d: rebuild the plugin with an SDK of the host's major version",
			req.GetProtocol().GetMajor(), Protocol.Major)
	}
	s.specsOnce.Do(func() {
		for _, p := range s.plugins {
			spec := toSpec(p.Spec)
			spec.Capabilities = probe(p)
			s.specs = append(s.specs, spec)
		}
	})
	s.hostPacked.Store(req.GetPacked())
	s.hostMinor.Store(req.GetProtocol().GetMinor())
	return &pb.HandshakeResponse{Protocol: Protocol, Sdk: "go", Specs: s.specs, Packed: true}, nil
}

// probe finds a connector's optional interfaces on an instance that is never
// opened (as the worker's Deleted call does), built from its defaults and
// the examples of its required settings. Constructors do no I/O, so this is
// cheap; when it fails the connector has no capabilities.
func probe(p sdk.Plugin) *pb.Capabilities {
	raw := map[string]any{}
	for _, f := range p.Spec.Fields {
		if f.Required && f.Example != "" {
			raw[f.Name] = f.Example
		}
	}
	cfg, err := p.Spec.Validate(raw)
	if err != nil {
		return &pb.Capabilities{}
	}
	env := sdk.Env{Logger: slog.New(slog.DiscardHandler), Connector: p.Spec.Name, Store: noStore{}, DataDir: os.TempDir()}
	var inst any
	switch {
	case p.NewSource != nil:
		inst, err = p.NewSource(cfg, env)
	case p.NewSink != nil:
		inst, err = p.NewSink(cfg, env)
	}
	if err != nil || inst == nil {
		return &pb.Capabilities{}
	}
	_, ot := inst.(sdk.OffsetTracker)
	_, nf := inst.(sdk.FieldsSink)
	_, nr := inst.(sdk.NotReplayable)
	_, dl := inst.(sdk.Deleter)
	return &pb.Capabilities{OffsetTracker: ot, NeedsFields: nf, NotReplayable: nr, Deleter: dl}
}

func (s *connectorServer) lookup(name, kind string) (sdk.Plugin, error) {
	p, ok := sdk.Plugins(s.plugins).Lookup(sdk.Kind(kind), name)
	if !ok {
		return p, fmt.Errorf("this plugin has no %s connector %q", kind, name)
	}
	return p, nil
}

func (s *connectorServer) Validate(_ context.Context, req *pb.ValidateRequest) (*pb.ValidateResponse, error) {
	p, err := s.lookup(req.Name, req.Kind)
	if err != nil {
		return nil, err
	}
	_, err = p.Spec.Validate(rawConfig(req.Config))
	var ce *sdk.ConfigError
	if errors.As(err, &ce) {
		return &pb.ValidateResponse{Errors: toFieldErrors(ce.Errors)}, nil
	}
	if err != nil {
		return nil, err
	}
	return &pb.ValidateResponse{}, nil
}

func (s *connectorServer) Configure(_ context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	p, err := s.lookup(req.Name, req.Kind)
	if err != nil {
		return nil, err
	}
	cfg, err := p.Spec.Validate(rawConfig(req.Config))
	if err != nil {
		return &pb.ConfigureResponse{Error: toError(err)}, nil
	}
	e := req.GetEnv()
	env := sdk.Env{Pipeline: e.GetPipeline(), Connector: e.GetConnector(), Task: int(e.GetTask()), Topic: e.GetTopic(),
		Topics: e.GetTopics(), DataDir: e.GetDataDir(), Store: noStore{}}
	env.Logger = s.logger.With("pipeline", env.Pipeline, "connector", env.Connector, "task", env.Task)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.source != nil || s.sink != nil {
		return nil, errors.New("this plugin process already runs a connector")
	}
	s.spec = p.Spec
	if p.NewSource != nil {
		s.source, err = p.NewSource(cfg, env)
	} else {
		s.sink, err = p.NewSink(cfg, env)
	}
	return &pb.ConfigureResponse{Error: toError(err)}, nil
}

func (s *connectorServer) instance() (sdk.Source, sdk.Sink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.source, s.sink
}

var errNotConfigured = errors.New("no connector configured: call Configure first")

func (s *connectorServer) Open(ctx context.Context, req *pb.OpenRequest) (*pb.OpenResponse, error) {
	src, sink := s.instance()
	switch {
	case src != nil:
		var pos sdk.Position
		if req.HasPosition {
			pos = sdk.Position(req.Position)
		}
		return &pb.OpenResponse{Error: toError(src.Open(ctx, pos))}, nil
	case sink != nil:
		return &pb.OpenResponse{Error: toError(sink.Open(ctx))}, nil
	}
	return nil, errNotConfigured
}

func (s *connectorServer) Read(stream pb.Connector_ReadServer) error {
	src, _ := s.instance()
	if src == nil {
		return errNotConfigured
	}
	ctx := stream.Context()
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		recs, err := src.Read(ctx)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			if err = s.hostReads(recs); err != nil {
				recs = nil // not one of them is stored: the task fails at the batch
			}
		}
		if err := stream.Send(&pb.ReadResponse{Batch: encode(recs, s.hostPacked.Load()), Error: toError(err)}); err != nil {
			return err
		}
	}
}

// hostReads fails a batch with a record the host would take for a good one:
// a host before protocol 1.1 ignores Record.error, and would store
// unparsable input as data.
func (s *connectorServer) hostReads(recs []sdk.Record) error {
	if s.hostMinor.Load() >= 1 {
		return nil
	}
	for i := range recs {
		if recs[i].Err != nil {
			return sdk.Fatal(fmt.Errorf("record %d could not be parsed (%v), and this host speaks plugin protocol 1.%d, "+
				"which cannot dead-letter it (1.1 can): upgrade Braid", i, recs[i].Err, s.hostMinor.Load()))
		}
	}
	return nil
}

func (s *connectorServer) Ack(ctx context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	src, _ := s.instance()
	if src == nil {
		return nil, errNotConfigured
	}
	return &pb.AckResponse{Error: toError(src.Ack(ctx, sdk.Position(req.Position)))}, nil
}

func (s *connectorServer) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	_, sink := s.instance()
	if sink == nil {
		return nil, errNotConfigured
	}
	recs, err := decode(req.Batch)
	if err != nil {
		return nil, err
	}
	return &pb.WriteResponse{Error: toError(sink.Write(ctx, recs))}, nil
}

func (s *connectorServer) Flush(ctx context.Context, _ *pb.FlushRequest) (*pb.FlushResponse, error) {
	_, sink := s.instance()
	if sink == nil {
		return nil, errNotConfigured
	}
	return &pb.FlushResponse{Error: toError(sink.Flush(ctx))}, nil
}

func (s *connectorServer) WrittenOffsets(ctx context.Context, req *pb.WrittenOffsetsRequest) (*pb.WrittenOffsetsResponse, error) {
	_, sink := s.instance()
	tr, ok := sink.(sdk.OffsetTracker)
	if !ok {
		return &pb.WrittenOffsetsResponse{}, nil
	}
	parts := make([]sdk.TopicPartition, len(req.Partitions))
	for i, p := range req.Partitions {
		parts[i] = sdk.TopicPartition{Topic: p.Topic, Partition: p.Partition}
	}
	got, err := tr.WrittenOffsets(ctx, parts)
	resp := &pb.WrittenOffsetsResponse{Error: toError(err)}
	for tp, off := range got {
		resp.Offsets = append(resp.Offsets, &pb.WrittenOffset{Partition: &pb.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}, Offset: off})
	}
	return resp, nil
}

func (s *connectorServer) Deleted(ctx context.Context, _ *pb.DeletedRequest) (*pb.DeletedResponse, error) {
	src, sink := s.instance()
	var inst any = src
	if sink != nil {
		inst = sink
	}
	if d, ok := inst.(sdk.Deleter); ok {
		return &pb.DeletedResponse{Error: toError(d.Deleted(ctx))}, nil
	}
	return &pb.DeletedResponse{}, nil
}

func (s *connectorServer) Close(ctx context.Context, _ *pb.CloseRequest) (*pb.CloseResponse, error) {
	return &pb.CloseResponse{Error: toError(s.closeInstanceCtx(ctx))}, nil
}

func (s *connectorServer) closeInstance() { _ = s.closeInstanceCtx(context.Background()) }

func (s *connectorServer) closeInstanceCtx(ctx context.Context) error {
	s.mu.Lock()
	src, sink := s.source, s.sink
	s.source, s.sink = nil, nil
	s.mu.Unlock()
	switch {
	case src != nil:
		return src.Close(ctx)
	case sink != nil:
		return sink.Close(ctx)
	}
	return nil
}

func (s *connectorServer) Health(context.Context, *pb.HealthRequest) (*pb.HealthResponse, error) {
	return &pb.HealthResponse{}, nil
}

// noStore is the Store of a connector in a plugin: protocol v1 has no calls
// back into the host, so a connector that keeps state there cannot run as
// a plugin yet, and says so instead of losing the state.
type noStore struct{}

var errNoStore = errors.New("the key-value store is not available to connector plugins (protocol v1)")

func (noStore) Get(context.Context, string) ([]byte, error) { return nil, errNoStore }
func (noStore) Put(context.Context, string, []byte) error   { return errNoStore }
func (noStore) Delete(context.Context, string) error        { return errNoStore }
