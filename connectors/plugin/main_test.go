package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/generator"
	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
)

// The test binary is its own plugin: run with testModeEnv set it serves
// (or misbehaves) instead of testing, so no test compiles a plugin except
// the one that checks the example builds.
const testModeEnv = "BRAID_PLUGIN_TEST_MODE"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(testModeEnv); mode {
	case "":
		os.Exit(runTests(m))
	case "serve":
		Serve(generator.Plugin(), file.SourcePlugin(), file.SinkPlugin(), flakyPlugin())
	case "deaf":
		// Never sees its standard input close: only the parent-death
		// signal (Linux) can end it when its host dies.
		r, w, err := os.Pipe()
		if err != nil {
			os.Exit(1)
		}
		os.Stdin = r
		defer w.Close()
		Serve(generator.Plugin())
	case "v2":
		Protocol = &pb.Version{Major: 2}
		Serve(generator.Plugin())
	case "garbage":
		serveGarbage()
	case "silent":
		// Never says it is ready.
		time.Sleep(time.Minute)
	case "host":
		runHost()
	default:
		fmt.Fprintln(os.Stderr, "unknown test mode", mode)
		os.Exit(2)
	}
	os.Exit(0)
}

// scripts holds one plugin script per mode, written by runTests before any
// test starts a process: a file open for writing while another goroutine
// forks is inherited by the child until it execs, and exec of that file
// then fails with ETXTBSY ("text file busy").
var scripts string

var modes = []string{"serve", "deaf", "v2", "garbage", "silent"}

func runTests(m *testing.M) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	scripts, err = os.MkdirTemp("", "braid-plugin-scripts-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(scripts)
	for _, m := range modes {
		// A race-enabled binary sleeps a second at exit unless told not to.
		script := fmt.Sprintf("#!/bin/sh\nGORACE=atexit_sleep_ms=0 %s=%s exec %q \"$@\"\n", testModeEnv, m, exe)
		if err := os.WriteFile(filepath.Join(scripts, m), []byte(script), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// pluginDir returns a directory holding one plugin executable per mode: a
// link to the script that runs this test binary in that mode.
func pluginDir(t *testing.T, modes ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range modes {
		if err := os.Symlink(filepath.Join(scripts, m), filepath.Join(dir, m)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// flakyPlugin is a source that misbehaves once per data directory, the way
// its "fail" setting says, after its first batch: a restarted task (same
// directory) then runs well, as one whose bug was transient. With "invalid"
// every third record is input it could not parse (sdk.Record.Err).
func flakyPlugin() sdk.Plugin {
	spec := sdk.Spec{Name: "flaky", Kind: sdk.KindSource, Summary: "Counts, and fails once as told.",
		Fields: []sdk.Field{
			{Name: "fail", Type: sdk.TypeString, Default: "", Enum: []string{"", "panic", "exit", "hang", "garbage", "invalid"}, Doc: "How to fail once."},
		}}
	return sdk.Plugin{Spec: spec, NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		return &flaky{fail: cfg.String("fail"), env: env}, nil
	}}
}

type flaky struct {
	fail string
	env  sdk.Env
	n    int
}

func (f *flaky) Open(_ context.Context, pos sdk.Position) error {
	if pos != nil {
		fmt.Sscan(string(pos), &f.n)
	}
	f.env.Logger.Info("flaky opened", "fail", f.fail)
	return nil
}

func (f *flaky) Read(ctx context.Context) ([]sdk.Record, error) {
	if f.n > 0 && f.fail != "" {
		marker := filepath.Join(f.env.DataDir, "failed-once")
		if _, err := os.Stat(marker); err != nil && f.fail != "invalid" {
			_ = os.WriteFile(marker, nil, 0o644)
			switch f.fail {
			case "panic":
				panic("flaky: told to panic")
			case "exit":
				os.Exit(3)
			case "hang":
				// The whole process stops: only the health check can tell.
				_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
			case "garbage":
				// Bytes that are no HTTP/2 frame, onto the live connection.
				writeGarbageToSockets()
			}
		}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Millisecond):
	}
	f.n++
	rec := sdk.Record{Value: fmt.Appendf(nil, `{"n":%d}`, f.n), Position: sdk.Position(fmt.Sprint(f.n))}
	if f.fail == "invalid" && f.n%3 == 0 {
		rec.Value, rec.Err = fmt.Appendf(nil, "n=%d", f.n), fmt.Errorf("flaky: record %d is not JSON", f.n)
	}
	return []sdk.Record{rec}, nil
}

func (f *flaky) Ack(context.Context, sdk.Position) error { return nil }
func (f *flaky) Close(context.Context) error             { return nil }

func writeGarbageToSockets() {
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, e := range fds {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err != nil {
			continue
		}
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "socket:") {
			_, _ = syscall.Write(fd, []byte("\x00\x00\x10\x07garbage garbage garbage"))
		}
	}
}

// serveGarbage says it is ready, then answers every connection with bytes
// that are not HTTP/2.
func serveGarbage() {
	lis, err := net.Listen("unix", os.Getenv(SocketEnv))
	if err != nil {
		os.Exit(1)
	}
	fmt.Println(readyLine)
	for {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for i := 0; i < 100; i++ {
				if _, err := c.Write([]byte("garbage \x00\xff not a gRPC frame\n")); err != nil {
					return
				}
			}
		}()
	}
}

// runHost is a worker stand-in for the SIGKILL test: it opens a plugin
// source, prints the plugin's process id and waits to be killed.
func runHost() {
	ps, err := Load(context.Background(), os.Getenv("BRAID_PLUGIN_TEST_PATH"), Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	p, _ := ps.Lookup(sdk.KindSource, "generator")
	cfg, _ := p.Spec.Validate(map[string]any{"rate": 10})
	src, _ := p.NewSource(cfg, sdk.Env{Connector: "g", DataDir: os.TempDir()})
	if err := src.Open(context.Background(), nil); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pid", src.(*source).p.cmd.Process.Pid)
	time.Sleep(time.Minute)
}

// gone reports whether a process no longer runs (a zombie does not).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

func fmtSscan(s, format string, a ...any) (int, error) { return fmt.Sscanf(s, format, a...) }
