package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/http/httpbench"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/runtime/worker/pipebench"
	"github.com/spf13/cobra"
)

func newBenchCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a hot path beside its baseline in the same run and print the ratio",
		Long: "Each benchmark runs in this process on a temporary data dir and prints one JSON line " +
			"(with --json) holding its figures, the baseline measured in the same run and their ratio.",
	}
	var cpuProfile string
	var stopProfile func()
	cmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	cmd.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	cmd.AddCommand(newBenchPipelineCmd(), newBenchWebhookCmd())
	addBenchCommands(cmd)
	addRemoteFSBench(cmd)
	return cmd
}

// printResult writes v as one JSON line, or indented without --json.
func printResult(w io.Writer, v any, asJSON bool) error {
	var b []byte
	var err error
	if asJSON {
		b, err = json.Marshal(v)
	} else {
		b, err = json.MarshalIndent(v, "", "  ")
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func newBenchPipelineCmd() *cobra.Command {
	var o pipebench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "file source → log → file sink end to end, beside the log-only baseline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := pipebench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Records, "records", 1_000_000, "records in the throughput phase")
	fl.IntVar(&o.Size, "size", 256, "bytes per record")
	fl.IntVar(&o.Partitions, "partitions", 1, "partitions of the topic")
	fl.IntVar(&o.Rate, "rate", 10_000, "records/s of the paced latency phase")
	fl.IntVar(&o.Paced, "paced", 30_000, "records of the paced latency phase (0: skip it)")
	fl.StringVar(&o.DataDir, "data-dir", "", "data dir (default: a temporary one)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

func newBenchWebhookCmd() *cobra.Command {
	var o httpbench.Options
	var asJSON bool
	var partitions int
	cmd := &cobra.Command{
		Use:   "http-webhook",
		Short: "batched POSTs from concurrent clients into a worker's webhook source and on into the log",
		Long: "Runs a worker with an http-webhook source publishing to a topic on an embedded log; a " +
			"request is answered 200 only once its records are in the log. The baseline is the same " +
			"load against a bare net/http handler in the same run.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, addr, stop, err := startBenchSource(ctx, "webhook", func(addr string) string {
				return fmt.Sprintf("version: 1\nname: bench\ntopics:\n  webhook: { partitions: %d }\n"+
					"sources:\n  web: { connector: http-webhook, topic: webhook, config: { listen: %q, batch: true } }\n", partitions, addr)
			})
			if err != nil {
				return err
			}
			defer stop()
			o.URL = "http://" + addr + "/"
			res, err := httpbench.Webhook(ctx, o)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Records, "records", 500_000, "records to send")
	fl.IntVar(&o.BatchSize, "batch", 100, "records per request")
	fl.IntVar(&o.Concurrency, "concurrency", 8, "concurrent clients")
	fl.IntVar(&partitions, "partitions", 3, "partitions of the topic")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

// startBenchSource runs an engine with the built-in connectors on a
// temporary data dir, applies the pipeline file yaml(addr) for a free
// loopback address and waits until its source listens there; stop closes
// the engine and removes the dir.
func startBenchSource(ctx context.Context, name string, yaml func(addr string) string) (*engine.Engine, string, func(), error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, "", nil, err
	}
	dir, err := os.MkdirTemp("", "braid-bench-"+name+"-")
	if err != nil {
		return nil, "", nil, err
	}
	builtin.RegisterConverters()
	eng, err := engine.Start(ctx, engine.Options{NATS: natsd.Config{DataDir: dir}, Plugins: builtin.Plugins(), DataDir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	stop := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = eng.Close(cctx)
		os.RemoveAll(dir)
	}
	p, lints := pipelines.Parse("bench.yaml", []byte(yaml(addr)), eng.Catalog(), func(string) (string, bool) { return "", false })
	if len(lints) > 0 {
		err = fmt.Errorf("bench pipeline: %v", lints)
	} else if _, err = eng.Apply(ctx, p, false); err == nil {
		err = waitListening(ctx, addr)
	}
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	return eng, addr, stop, nil
}

// freeLoopbackAddr returns a loopback address with a port nobody listens on.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening polls until addr accepts connections.
func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook at %s did not start: %w", addr, err)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
