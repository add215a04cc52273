package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/braidhq/braid/connectors/jdbc/jdbcbench"
	"github.com/braidhq/braid/connectors/parquet/parquetbench"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/log/logbench"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/braidhq/braid/schema/convert"
	"github.com/spf13/cobra"
)

// addBenchCommands adds the benchmarks of the log, JDBC and Parquet.
func addBenchCommands(cmd *cobra.Command) {
	cmd.AddCommand(newBenchLogCmd(), newBenchParquetCmd(), newBenchJDBCSinkCmd(), newBenchJDBCSourceCmd())
}

func newBenchLogCmd() *cobra.Command {
	var o logbench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "log",
		Short: "produce then consume through the log, beside one-message-per-record JetStream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := logbench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Records, "records", 1_000_000, "records per phase")
	fl.IntVar(&o.Size, "size", 128, "value bytes per record")
	fl.IntVar(&o.Partitions, "partitions", 3, "partitions")
	fl.StringVar(&o.DataDir, "data-dir", "", "data dir (default: a temporary one)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

func newBenchParquetCmd() *cobra.Command {
	var records, batch, rounds int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "parquet",
		Short: "records through the parquet sink, beside a raw parquet-go write of the same rows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "braid-bench-parquet-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			res, err := parquetbench.Run(cmd.Context(), dir, parquetbench.Records(records), batch, rounds)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&records, "records", 500_000, "records")
	fl.IntVar(&batch, "batch", 4096, "records per sink write")
	fl.IntVar(&rounds, "rounds", 3, "runs of each side; the best is reported")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

func jdbcFlags(cmd *cobra.Command, o *jdbcbench.Options, asJSON *bool) {
	fl := cmd.Flags()
	fl.StringVar(&o.Dialect, "dialect", "mysql", "mysql or postgres")
	fl.StringVar(&o.DSN, "dsn", "", "database (default: the loopback test database of the dialect)")
	fl.IntVar(&o.Rows, "rows", 100_000, "rows")
	fl.IntVar(&o.Batch, "batch", 5000, "records per sink write / rows per source read")
	fl.BoolVar(asJSON, "json", false, "print one JSON line")
}

func newBenchJDBCSinkCmd() *cobra.Command {
	var o jdbcbench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "jdbc-sink",
		Short: "upsert rows from the log through the jdbc sink, beside the database's own bulk load",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "braid-bench-jdbc-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			via, closeVia, err := newLogPassthrough(ctx, dir)
			if err != nil {
				return err
			}
			defer closeVia()
			o.Via = via
			res, err := jdbcbench.RunSink(ctx, o, nil)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	jdbcFlags(cmd, &o, &asJSON)
	return cmd
}

func newBenchJDBCSourceCmd() *cobra.Command {
	var o jdbcbench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "jdbc-source",
		Short: "read a table through the jdbc source, beside a plain SELECT scan",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := jdbcbench.RunSource(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	jdbcFlags(cmd, &o, &asJSON)
	return cmd
}

// newLogPassthrough returns a function that publishes records to a topic on
// an embedded log, reads them back from it and decodes them with the JSON
// converter: what a sink task does with records between the log and Write.
func newLogPassthrough(ctx context.Context, dir string) (func(context.Context, []sdk.Record) ([]sdk.Record, error), func(), error) {
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		return nil, nil, err
	}
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		return nil, nil, err
	}
	const topic = "bench"
	if err := lg.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		return nil, nil, err
	}
	prod := lg.Producer(log.ProducerOptions{ID: "bench"})
	r, err := lg.NewReader(ctx, topic, 0, log.Earliest)
	if err != nil {
		return nil, nil, err
	}
	convert.Builtin()
	conv, err := convert.New("json", nil, convert.Env{})
	if err != nil {
		return nil, nil, err
	}
	via := func(ctx context.Context, recs []sdk.Record) ([]sdk.Record, error) {
		lrs := make([]log.Record, len(recs))
		for i, rec := range recs {
			v, err := json.Marshal(rec.Fields)
			if err != nil {
				return nil, err
			}
			lrs[i] = log.Record{Key: rec.Key, Value: v, Partition: 0, Timestamp: time.Now()}
		}
		p, err := prod.Publish(ctx, log.Batch{Topic: topic, Records: lrs})
		if err != nil {
			return nil, err
		}
		if _, err := p.Wait(ctx); err != nil {
			return nil, err
		}
		out := make([]sdk.Record, 0, len(recs))
		for len(out) < len(recs) {
			got, err := r.Fetch(ctx, len(recs)-len(out), 16<<20, time.Second)
			if err != nil {
				return nil, err
			}
			for _, lr := range got {
				fields, _, err := conv.Decode(ctx, topic, lr.Value)
				if err != nil {
					return nil, fmt.Errorf("offset %d: %w", lr.Offset, err)
				}
				rec := recs[len(out)]
				out = append(out, sdk.Record{Topic: rec.Topic, Partition: 0, Offset: lr.Offset, Key: lr.Key,
					Value: lr.Value, Fields: fields, Schema: rec.Schema, Timestamp: lr.Timestamp})
			}
		}
		return out, nil
	}
	closeAll := func() {
		_ = prod.Close(context.Background())
		_ = r.Close()
		_ = lg.Close()
		_ = conn.Close(context.Background())
	}
	return via, closeAll, nil
}
