package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/braidhq/braid/connectors/audit"
)

// newAuditCmd is `braid audit verify PATH`: it checks an audit sink's hash
// chain and names the first line that was changed, removed or inserted.
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with logs written by the audit sink",
	}
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify PATH",
		Short: "Check the hash chain of an audit directory or file",
		Long: "Verify reads every audit-YYYY-MM-DD.jsonl file of a directory (or one file, which may\n" +
			"continue an earlier chain) and checks each entry's hash and its link to the entry before.\n" +
			"It prints the first broken line as file:line and why, and exits 1. Removing the newest\n" +
			"entries cannot be seen from inside the log: keep the printed last hash elsewhere to compare.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := audit.Verify(args[0])
			var verr *audit.VerifyError
			if errors.As(err, &verr) {
				file := args[0]
				if st, serr := os.Stat(args[0]); serr == nil && st.IsDir() {
					file = filepath.Join(args[0], verr.File)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "audit chain broken: %s:%d: %s\n", file, verr.Line, verr.Reason)
				return exitError{code: 1}
			}
			if err != nil {
				return fmt.Errorf("audit verify %s: %w", args[0], err)
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d entries in %d files, seq %d..%d, last hash %s\n",
				rep.Entries, rep.Files, rep.FirstSeq, rep.LastSeq, rep.LastHash)
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(verify)
	return cmd
}
