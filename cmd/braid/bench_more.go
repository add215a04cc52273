package main

import "github.com/spf13/cobra"

// addBenchCommands adds the benchmarks of the log, JDBC and Parquet.
func addBenchCommands(cmd *cobra.Command) {}
