package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/braidhq/braid/connectors/http/httpbench"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
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
		Short: "batched POSTs from concurrent clients into the webhook source and on into the log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "braid-bench-webhook-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
			if err != nil {
				return err
			}
			defer lg.Close()
			if err := lg.CreateTopic(ctx, "webhook", log.TopicConfig{Partitions: partitions}); err != nil {
				return err
			}
			prod := lg.Producer(log.ProducerOptions{ID: "bench-webhook"})
			defer prod.Close(context.Background())
			o.Deliver = func(ctx context.Context, recs []sdk.Record) error {
				lrs := make([]log.Record, len(recs))
				for i, r := range recs {
					lrs[i] = log.Record{Key: r.Key, Value: r.Value, Partition: -1, Timestamp: time.Now()}
				}
				p, err := prod.Publish(ctx, log.Batch{Topic: "webhook", Records: lrs})
				if err != nil {
					return err
				}
				_, err = p.Wait(ctx)
				return err
			}
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
