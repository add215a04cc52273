package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/braidhq/braid/runtime/kafka/kafkabench"
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

// addBenchCommands adds the benchmarks of the log, Kafka, CDC, JDBC, Parquet and the tcp source.
func addBenchCommands(cmd *cobra.Command) {
	cmd.AddCommand(newBenchLogCmd(), newBenchKafkaCmd(), newBenchCDCCmd(), newBenchParquetCmd(), newBenchJDBCSinkCmd(), newBenchJDBCSourceCmd(), newBenchTCPCmd(), newBenchPluginCmd())
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
	fl.IntVar(&o.Producers, "producers", 1, "also produce from this many concurrent producers into the same partitions")
	fl.IntVar(&o.PacedRate, "paced-rate", 10_000, "records/s of the paced phase (single records, acknowledgement latency)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

func newBenchKafkaCmd() *cobra.Command {
	var o kafkabench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "kafka",
		Short: "produce then consume over the Kafka protocol with franz-go, beside Braid's native producer and reader",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := kafkabench.Run(cmd.Context(), o)
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
	fl.IntVar(&o.PacedRate, "paced-rate", 10_000, "records/s of the paced phase (franz-go default linger, acknowledgement latency)")
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
			lp, err := newLogPassthrough(ctx, dir)
			if err != nil {
				return err
			}
			defer lp.close()
			o.Prepare, o.Via = lp.prepare, lp.next
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

// logPassthrough stores the bench's records in a topic before the clock
// starts, then hands them to the sink as a sink task would: read back from the
// log by a reader running ahead (so reading overlaps writing) and decoded with
// the JSON converter.
type logPassthrough struct {
	conn  *natsd.Conn
	lg    *log.Log
	conv  convert.Converter
	ahead chan []sdk.Record
	errc  chan error
	stop  context.CancelFunc
	buf   []sdk.Record
	src   []sdk.Record
	used  int
}

const passTopic = "bench"

func newLogPassthrough(ctx context.Context, dir string) (*logPassthrough, error) {
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		return nil, err
	}
	lg, err := log.Open(ctx, conn, log.Options{Replicas: 1})
	if err != nil {
		return nil, err
	}
	if err := lg.CreateTopic(ctx, passTopic, log.TopicConfig{Partitions: 1}); err != nil {
		return nil, err
	}
	convert.Builtin()
	conv, err := convert.New("json", nil, convert.Env{})
	if err != nil {
		return nil, err
	}
	return &logPassthrough{conn: conn, lg: lg, conv: conv, stop: func() {}}, nil
}

// prepare publishes every record and starts the read-ahead.
func (lp *logPassthrough) prepare(ctx context.Context, recs []sdk.Record) error {
	prod := lp.lg.Producer(log.ProducerOptions{ID: "bench"})
	defer prod.Close(ctx)
	const batch = 4096
	for i := 0; i < len(recs); i += batch {
		part := recs[i:min(i+batch, len(recs))]
		lrs := make([]log.Record, len(part))
		for j, rec := range part {
			v, err := json.Marshal(rec.Fields)
			if err != nil {
				return err
			}
			lrs[j] = log.Record{Key: rec.Key, Value: v, Partition: 0, Timestamp: time.Now()}
		}
		if _, err := prod.Publish(ctx, log.Batch{Topic: passTopic, Records: lrs}); err != nil {
			return err
		}
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	lp.src = recs
	r, err := lp.lg.NewReader(ctx, passTopic, 0, log.Earliest)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	lp.stop = cancel
	lp.ahead, lp.errc = make(chan []sdk.Record, 4), make(chan error, 1)
	// Like a sink task's reader for a FieldsSink: read and decode ahead.
	go func() {
		defer r.Close()
		for n := 0; n < len(recs); {
			got, err := r.Fetch(rctx, 8192, 8<<20, time.Second)
			if err != nil {
				lp.errc <- err
				return
			}
			out := make([]sdk.Record, len(got))
			for i, lr := range got {
				fields, _, err := lp.conv.Decode(rctx, passTopic, lr.Value)
				if err != nil {
					lp.errc <- fmt.Errorf("offset %d: %w", lr.Offset, err)
					return
				}
				out[i] = sdk.Record{Partition: 0, Offset: lr.Offset, Key: lr.Key, Value: lr.Value, Fields: fields, Timestamp: lr.Timestamp}
			}
			n += len(got)
			select {
			case lp.ahead <- out:
			case <-rctx.Done():
				return
			}
		}
	}()
	return nil
}

// next returns the next len(recs) records from the log, decoded.
func (lp *logPassthrough) next(ctx context.Context, recs []sdk.Record) ([]sdk.Record, error) {
	out := make([]sdk.Record, 0, len(recs))
	for len(out) < len(recs) {
		if len(lp.buf) == 0 {
			select {
			case lp.buf = <-lp.ahead:
			case err := <-lp.errc:
				return nil, err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		take := min(len(recs)-len(out), len(lp.buf))
		for _, rec := range lp.buf[:take] {
			src := lp.src[lp.used]
			lp.used++
			rec.Topic, rec.Schema = src.Topic, src.Schema
			out = append(out, rec)
		}
		lp.buf = lp.buf[take:]
	}
	return out, nil
}

func (lp *logPassthrough) close() {
	lp.stop()
	_ = lp.lg.Close()
	_ = lp.conn.Close(context.Background())
}
