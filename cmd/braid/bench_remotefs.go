package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/braidhq/braid/connectors/ftp/ftpbench"
	"github.com/braidhq/braid/connectors/sftp/sftpbench"
)

// addRemoteFSBench adds `braid bench sftp` and `braid bench ftp`.
func addRemoteFSBench(cmd *cobra.Command) {
	cmd.AddCommand(newBenchRemoteFSCmd("sftp", sftpbench.Run), newBenchRemoteFSCmd("ftp", ftpbench.Run))
}

func newBenchRemoteFSCmd(proto string, run func(context.Context, sftpbench.Options) (sftpbench.Result, error)) *cobra.Command {
	var o sftpbench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   proto,
		Short: "the " + proto + " source reading files from a loopback server into records, beside the raw client library downloading them",
		Long: "Starts an in-process " + proto + " server on loopback serving a temporary directory, writes the files, " +
			"then times the " + proto + " source reading every line into records (acknowledging each batch) and the " +
			"client library alone downloading the same files with the same concurrency; ratio is the source's " +
			"throughput over the library's.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := run(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Files, "files", 40, "files")
	fl.IntVar(&o.Lines, "lines", 50_000, "lines per file")
	fl.IntVar(&o.LineSize, "line-size", 100, "bytes per line")
	fl.IntVar(&o.Downloads, "downloads", 4, "concurrent downloads (max.downloads), both sides")
	fl.IntVar(&o.Rounds, "rounds", 2, "runs of each side; the best is reported")
	fl.StringVar(&o.Format, "format", "lines", "the source's format: lines (a record per line) or binary (a record per file: the download without the per-line record path)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}
