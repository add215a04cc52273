package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/spf13/cobra"
)

func newLintCmd() *cobra.Command {
	var pf pluginFlags
	var dataDir string
	var files []string
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check pipeline files and print every mistake with file:line:col",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args)+len(files) == 0 {
				return errors.New("name the pipeline files to check: braid lint FILE... (or -f FILE, as for braid run)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			args = append(files, args...)
			builtin.RegisterConverters()
			cat := engine.Catalog(pf.connectors(cmd.Context(), dataDir, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))))
			bad := 0
			for _, path := range args {
				_, lints := pipelines.Load(path, cat)
				for _, l := range lints {
					fmt.Fprintln(cmd.OutOrStdout(), l.String())
				}
				bad += len(lints)
			}
			if bad > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d problem(s) found\n", bad)
				return exitError{code: 1}
			}
			return nil
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().StringVar(&dataDir, "data-dir", "./data", "data directory whose plugins directory holds connector plugins")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "pipeline file to check, as braid run -f names it; repeatable, beside FILE arguments")
	return cmd
}
