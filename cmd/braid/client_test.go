package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/braidhq/braid/connectors/sdk"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/runtime/api"
)

// braidCLI runs the root command in-process and returns its output.
func braidCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestClientCommands(t *testing.T) {
	t.Parallel()
	eng := startTestEngine(t, builtin.Plugins(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	// The pipeline applied over the API reads and writes in dir.
	srv := api.New(eng, api.Options{Addr: "127.0.0.1:0", Token: "cli-token", AllowPaths: []string{dir}})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--server", "http://" + srv.Addr(), "--token", "cli-token"}
	run := func(want string, args ...string) string {
		t.Helper()
		out, err := braidCLI(t, append(args, conn...)...)
		if err != nil {
			t.Fatalf("braid %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("braid %s: output lacks %q:\n%s", strings.Join(args, " "), want, out)
		}
		return out
	}

	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(`{"name":"ada"}`+"\n"+`{"name":"bob"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cli.yaml")
	yaml := fmt.Sprintf("version: 1\nname: cli\ntopics:\n  cli: { partitions: 1 }\nsources:\n  src: { connector: file, topic: cli, config: { path: %s/in.jsonl, format: jsonl } }\n"+
		"sinks:\n  out: { connector: file, topics: [cli], config: { path: %s/out } }\n", dir, dir)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nsources:\n  x: { connector: fiel, topic: cli }\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	run("cli.yaml: no problems", "validate", file)
	out, err := braidCLI(t, append([]string{"validate", bad}, conn...)...)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "bad.yaml:3:") {
		t.Fatalf("validate of a bad file: %v\n%s", err, out)
	}
	run("(dry run: nothing applied)", "apply", "-f", file, "--dry-run")
	run("+ source src", "apply", "-f", file)
	waitFor(t, "the sink to catch up", func() bool {
		out, err := braidCLI(t, append([]string{"topics", "describe", "cli"}, conn...)...)
		return err == nil && strings.Contains(out, "braid-cli-out") && strings.HasSuffix(strings.TrimSpace(out), " 0")
	})
	run("no changes", "apply", "-f", file)
	if out, err := braidCLI(t, append(append([]string{"__complete", "connectors", "status"}, conn...), "")...); err != nil ||
		!strings.Contains(out, "src\n") || !strings.Contains(out, "out\n") {
		t.Fatalf("completion of connector names: %v\n%s", err, out)
	}
	run("RUNNING", "connectors", "list")
	run("src (source): RUNNING", "connectors", "status", "src")
	run("cli", "topics", "list")
	tailOut := run(`{"name":"ada"}`, "topics", "tail", "cli", "--from", "earliest", "-n", "2", "--interval", "50ms")
	if !strings.Contains(tailOut, `{"name":"bob"}`) {
		t.Fatalf("tail missed a record:\n%s", tailOut)
	}
	run("file", "plugins", "list")
	run(`"kafka_topic": "cli"`, "connectors", "offsets", "out", "-o", "json")
	run("out: stop requested", "connectors", "stop", "out")
	waitFor(t, "out to stop", func() bool {
		out, _ := braidCLI(t, append([]string{"connectors", "status", "out"}, conn...)...)
		return strings.Contains(out, "STOPPED")
	})
	out = run("TOPIC", "connectors", "offsets", "out", "--reset")
	if strings.Contains(out, "cli ") {
		t.Fatalf("offsets remain after reset:\n%s", out)
	}
	run("resume requested", "connectors", "resume", "out")
	run("pause requested", "connectors", "pause", "src")
	run("restart requested", "connectors", "restart", "src", "--only-failed")
	run("delete requested", "connectors", "delete", "src")

	// Without the token the server refuses, and the CLI says what to do.
	out, err = braidCLI(t, "connectors", "list", "--server", "http://"+srv.Addr(), "--token", "wrong")
	if err == nil || !strings.Contains(err.Error(), "BRAID_TOKEN") {
		t.Fatalf("wrong token: %v\n%s", err, out)
	}
	if out, err := braidCLI(t, "completion", "bash"); err != nil || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion: %v", err)
	}
}

// TestAPIPaths: by default connectors created over the API may use the data
// dir and the working directory, never the log's store or the token file.
func TestAPIPaths(t *testing.T) {
	t.Parallel()
	f := &runFlags{dataDir: "/srv/braid", tokenFile: "/etc/braid/token"}
	allow, deny := f.apiPaths()
	if fmt.Sprint(allow) != "[/srv/braid .]" || fmt.Sprint(deny) != "[/srv/braid/jetstream /etc/braid/token]" {
		t.Fatalf("defaults: allow %v, deny %v", allow, deny)
	}
	f.allowPaths = []string{"/a"}
	if allow, _ := f.apiPaths(); fmt.Sprint(allow) != "[/a]" {
		t.Fatalf("--allow-path /a: allow %v", allow)
	}
	cmd := newRunCmd(&globalFlags{})
	if err := cmd.ParseFlags([]string{"--allow-path", "/a", "--allow-path", "/b"}); err != nil {
		t.Fatal(err)
	}
	got, err := cmd.Flags().GetStringArray("allow-path")
	if err != nil || fmt.Sprint(got) != "[/a /b]" {
		t.Fatalf("--allow-path twice: %v %v", got, err)
	}
}

func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		p    sdk.Progress
		want string
	}{
		{sdk.Progress{Phase: "snapshot", Done: 50, Total: 200}, "snapshot [#######.......................] 50/200 (25%)"},
		{sdk.Progress{Phase: "snapshot", Done: 300, Total: 200}, "snapshot [##############################] 300/200 (100%)"},
		{sdk.Progress{Phase: "streaming", Done: 7}, "streaming 7"},
	} {
		if got := progressLine(c.p); got != c.want {
			t.Errorf("progressLine(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}
