// Command braid is Braid's one binary: it runs pipelines on the embedded log
// (`braid run`), lints pipeline files, benchmarks the hot paths and, as a
// client of the REST API, manages a running instance.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries an exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// main leaves the collector at Go's default pace (GOGC 100, or what the
// environment says): the memory bound is braid run's --memory, a soft limit
// under which the collector works harder only when it must. Until
// 2026-12-04 braid ran with GOGC 50, which bought ~25 MiB of peak RSS with
// a quarter to half of the throughput of allocation-heavy paths
// (docs/architecture.md, "Memory").
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "braid:", err)
		os.Exit(1)
	}
}

type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "braid",
		Short:         "Braid moves data from sources through a partitioned log to sinks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newRunCmd(g),
		newLintCmd(),
		newBenchCmd(g),
		newVersionCmd(),
		newKafkaCmd(),
		newServePluginCmd(),
	)
	addExtraCommands(root)
	return root
}

// logger builds the process logger; only main-level code holds it globally.
func (g *globalFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", g.logFormat)
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "braid", version) },
	}
}
