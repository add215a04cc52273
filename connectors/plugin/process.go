package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	pb "github.com/braidhq/braid/proto/braid/connector/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// process is one running plugin executable and the gRPC connection to it.
type process struct {
	path   string
	logger *slog.Logger
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	dir    string
	conn   *grpc.ClientConn
	client pb.ConnectorClient
	packed bool // the plugin reads packed batches

	exited chan struct{} // closed once the process is gone
	ready  chan struct{} // closed when the ready line came
	stop   chan struct{} // closed by kill, ends the health checks

	mu       sync.Mutex
	failure  error // why the process is unusable, nil while it is fine
	stopOnce sync.Once
}

// start runs the executable, waits for its ready line, dials it and
// handshakes. The logger carries the task's keys; the plugin's stderr goes
// there.
func start(ctx context.Context, path string, o Options, logger *slog.Logger) (*process, *pb.HandshakeResponse, error) {
	dir, err := os.MkdirTemp("", "braid-plugin-")
	if err != nil {
		return nil, nil, err
	}
	sock := filepath.Join(dir, "s")
	p := &process{path: path, logger: logger, dir: dir, exited: make(chan struct{}), ready: make(chan struct{}), stop: make(chan struct{})}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), SocketEnv+"="+sock)
	cmd.Stdout = &lineLogger{logger: logger, stream: "stdout", ready: p.ready}
	cmd.Stderr = &lineLogger{logger: logger, stream: "stderr"}
	cmd.WaitDelay = time.Second
	isolate(cmd)
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start plugin %s: %w", path, err)
	}
	p.cmd = cmd
	go func() {
		err := cmd.Wait()
		p.fail(fmt.Errorf("plugin %s exited: %v", filepath.Base(path), exitText(err)))
		close(p.exited)
	}()
	sctx, cancel := context.WithTimeout(ctx, o.startTimeout())
	defer cancel()
	select {
	case <-p.ready:
	case <-p.exited:
		p.kill()
		return nil, nil, p.err()
	case <-sctx.Done():
		p.kill()
		return nil, nil, fmt.Errorf("plugin %s did not say it was ready within %s", filepath.Base(path), o.startTimeout())
	}
	p.conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
		grpc.WithWriteBufferSize(ioBuffer), grpc.WithReadBufferSize(ioBuffer),
		grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window))
	if err != nil {
		p.kill()
		return nil, nil, err
	}
	p.client = pb.NewConnectorClient(p.conn)
	hs, err := p.client.Handshake(sctx, &pb.HandshakeRequest{Protocol: Protocol, Host: "braid", Packed: true})
	if err != nil {
		p.kill()
		return nil, nil, fmt.Errorf("plugin %s: handshake: %w", filepath.Base(path), p.cause(err))
	}
	if got := hs.GetProtocol().GetMajor(); got != Protocol.Major {
		p.kill()
		return nil, nil, fmt.Errorf("plugin %s speaks protocol v%d, this worker v%d: use a plugin built for v%d",
			filepath.Base(path), got, Protocol.Major, Protocol.Major)
	}
	p.packed = hs.GetPacked()
	go p.supervise(o)
	return p, hs, nil
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// supervise kills a plugin that stops answering its health check, so every
// call in flight fails and the task restarts.
func (p *process) supervise(o Options) {
	t := time.NewTicker(o.healthInterval())
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.exited:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.healthTimeout())
		_, err := p.client.Health(ctx, &pb.HealthRequest{})
		cancel()
		if err != nil {
			p.fail(fmt.Errorf("plugin %s did not answer its health check within %s (%v); killed it",
				filepath.Base(p.path), o.healthTimeout(), err))
			p.logger.Warn("plugin killed", "err", p.err())
			p.kill()
			return
		}
	}
}

func (p *process) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failure == nil {
		p.failure = err
	}
}

func (p *process) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failure
}

// cause explains a failed call: why the process died when it did, or the
// call's own error.
func (p *process) cause(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-p.exited:
	case <-time.After(50 * time.Millisecond):
		// A call can fail just before the exit is seen.
	}
	if f := p.err(); f != nil {
		return fmt.Errorf("%w (%v)", f, err)
	}
	return err
}

// kill ends the process group at once and frees the connection.
func (p *process) kill() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.fail(fmt.Errorf("plugin %s was stopped", filepath.Base(p.path)))
		if p.cmd != nil && p.cmd.Process != nil {
			killGroup(p.cmd.Process.Pid)
		}
		if p.conn != nil {
			p.conn.Close()
		}
		if p.stdin != nil {
			p.stdin.Close()
		}
		if p.cmd != nil {
			<-p.exited
		}
		os.RemoveAll(p.dir)
	})
}

// shutdown asks the plugin to exit (its standard input closes) and kills it
// after grace.
func (p *process) shutdown(grace time.Duration) {
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(grace):
	}
	p.kill()
}

// lineLogger sends a plugin's output to the worker's log, line by line. A
// JSON line with level and msg (the SDKs' loggers) keeps both and its
// attributes; anything else is logged as text. The first stdout line that
// says ready closes ready.
type lineLogger struct {
	logger *slog.Logger
	stream string
	ready  chan struct{}
	buf    []byte
	once   sync.Once
}

const maxLine = 64 << 10

func (l *lineLogger) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) > maxLine {
				l.line(l.buf)
				l.buf = l.buf[:0]
			}
			return len(b), nil
		}
		l.line(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) line(b []byte) {
	s := strings.TrimRight(string(b), "\r")
	if l.ready != nil && s == readyLine {
		l.once.Do(func() { close(l.ready) })
		return
	}
	if s == "" {
		return
	}
	var m map[string]any
	if len(s) > 0 && s[0] == '{' && json.Unmarshal([]byte(s), &m) == nil {
		if msg, ok := m["msg"].(string); ok {
			level := slog.LevelInfo
			if lv, ok := m["level"].(string); ok {
				_ = level.UnmarshalText([]byte(lv))
			}
			attrs := []any{"plugin", l.stream}
			for k, v := range m {
				switch k {
				case "msg", "level", "time", "pipeline", "connector", "task":
				default:
					attrs = append(attrs, k, v)
				}
			}
			l.logger.Log(context.Background(), level, msg, attrs...)
			return
		}
	}
	l.logger.Info(s, "plugin", l.stream)
}

var errClosed = errors.New("plugin connector is closed")
