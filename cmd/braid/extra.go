package main

import "github.com/spf13/cobra"

// addExtraCommands adds the client and tool subcommands written in their own files.
func addExtraCommands(root *cobra.Command) {
	cf := &clientFlags{}
	for _, c := range []*cobra.Command{newConnectorsCmd(cf), newApplyCmd(cf), newValidateCmd(cf), newTopicsCmd(cf), newPluginsCmd(cf), newDLQCmd(cf)} {
		cf.register(c) // --server, --token, --output on the client commands only
		root.AddCommand(c)
	}
	root.AddCommand(newAuditCmd(), newSchemasCmd())
}
