package main

import (
	"context"
	"fmt"

	"github.com/braidhq/braid/connectors/socket/tcpbench"
	"github.com/spf13/cobra"
)

func newBenchTCPCmd() *cobra.Command {
	var o tcpbench.Options
	var asJSON bool
	var partitions int
	cmd := &cobra.Command{
		Use:   "tcp",
		Short: "syslog lines from concurrent TCP clients through a worker's tcp source into the log, beside a raw socket reader",
		Long: "Runs a worker with a tcp source (framing syslog, RFC 5424 lines) publishing to a topic on an " +
			"embedded log; the run ends when the topic holds every line. The baseline is the same load into " +
			"a raw socket reader that only counts newlines, in the same run.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			eng, addr, stop, err := startBenchSource(ctx, "tcp", func(addr string) string {
				return fmt.Sprintf("version: 1\nname: bench\ntopics:\n  syslog: { partitions: %d }\n"+
					"sources:\n  syslog: { connector: tcp, topic: syslog, config: { listen: %q, framing: syslog, max.connections: %d } }\n",
					partitions, addr, max(o.Clients, 1)+10)
			})
			if err != nil {
				return err
			}
			defer stop()
			o.Addr = addr
			o.Stored = func(ctx context.Context) (int64, error) {
				info, err := eng.Log.Topic(ctx, "syslog")
				if err != nil {
					return 0, err
				}
				var n int64
				for _, p := range info.Partitions {
					n += p.LastOffset + 1
				}
				return n, nil
			}
			res, err := tcpbench.Run(ctx, o)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Lines, "lines", 1_000_000, "syslog lines to send")
	fl.IntVar(&o.Clients, "clients", 8, "concurrent TCP clients")
	fl.IntVar(&partitions, "partitions", 3, "partitions of the topic")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}
