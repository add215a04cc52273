package main

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/api"
	"github.com/braidhq/braid/runtime/worker"
	"github.com/spf13/cobra"
)

// newConnectorsCmd manages running connectors through the REST API.
func newConnectorsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "connectors", Aliases: []string{"connector"}, Short: "List and manage the connectors of a running braid"}
	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: "List connectors with their state", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return connectorsList(cmd, cf) }},
		&cobra.Command{Use: "status NAME", Short: "Show a connector's tasks and their state", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return connectorStatus(cmd, cf, args[0]) }},
		connectorAction(cf, "pause", "Pause a connector's tasks (they keep their resources)", "PUT", "/pause"),
		connectorAction(cf, "resume", "Resume a paused or stopped connector", "PUT", "/resume"),
		connectorAction(cf, "stop", "Stop a connector's tasks, keeping its config (needed to change offsets)", "PUT", "/stop"),
		connectorAction(cf, "delete", "Stop a connector and forget its config (offsets stay)", "DELETE", ""),
		newRestartCmd(cf),
		newSnapshotCmd(cf),
		newOffsetsCmd(cf),
	)
	complete := cf.completeNames("/connectors", connectorNames)
	for _, sub := range cmd.Commands() {
		if strings.HasSuffix(sub.Use, " NAME") {
			sub.ValidArgsFunction = complete
		}
	}
	return cmd
}

func connectorsList(cmd *cobra.Command, cf *clientFlags) error {
	c, err := cf.client(cmd)
	if err != nil {
		return err
	}
	var all map[string]struct {
		Status worker.ConnectorStatus `json:"status"`
	}
	data, err := c.call(cmd.Context(), "GET", "/connectors?expand=status", nil, &all)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(data)
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	rows := make([][]string, 0, len(names))
	for _, n := range names {
		st := all[n].Status
		running := 0
		for _, t := range st.Tasks {
			if t.State == worker.StateRunning {
				running++
			}
		}
		rows = append(rows, []string{n, string(st.Type), string(st.Connector.State), fmt.Sprintf("%d/%d", running, len(st.Tasks))})
	}
	c.table([]string{"NAME", "TYPE", "STATE", "TASKS RUNNING"}, rows)
	return nil
}

func connectorStatus(cmd *cobra.Command, cf *clientFlags, name string) error {
	c, err := cf.client(cmd)
	if err != nil {
		return err
	}
	var st worker.ConnectorStatus
	data, err := c.call(cmd.Context(), "GET", "/connectors/"+url.PathEscape(name)+"/status", nil, &st)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(data)
	}
	fmt.Fprintf(c.out, "%s (%s): %s on %s\n", st.Name, st.Type, st.Connector.State, st.Connector.WorkerID)
	rows := make([][]string, 0, len(st.Tasks))
	for _, t := range st.Tasks {
		rows = append(rows, []string{strconv.Itoa(t.ID), string(t.State), t.WorkerID, firstLine(t.Trace)})
	}
	c.table([]string{"TASK", "STATE", "WORKER", "TRACE"}, rows)
	if p := st.Progress; p != nil {
		fmt.Fprintf(c.out, "progress: %s\n", progressLine(*p))
		for _, t := range p.Tables {
			fmt.Fprintf(c.out, "  %s: %s\n", t.Name, progressLine(sdk.Progress{Phase: t.State, Done: t.Done, Total: t.Total}))
		}
	}
	for _, t := range st.Tasks {
		names := slices.Sorted(maps.Keys(t.Gauges))
		for _, n := range names {
			fmt.Fprintf(c.out, "task %d %s: %s\n", t.ID, n, strconv.FormatFloat(t.Gauges[n], 'f', -1, 64))
		}
	}
	return nil
}

// progressLine draws a snapshot's progress: phase, a bar, done of total.
func progressLine(p sdk.Progress) string {
	if p.Total <= 0 {
		return fmt.Sprintf("%s %d", p.Phase, p.Done)
	}
	const width = 30
	frac := min(float64(p.Done)/float64(p.Total), 1)
	n := int(frac * width)
	return fmt.Sprintf("%s [%s%s] %d/%d (%.0f%%)", p.Phase, strings.Repeat("#", n), strings.Repeat(".", width-n), p.Done, p.Total, frac*100)
}

func connectorAction(cf *clientFlags, verb, short, method, suffix string) *cobra.Command {
	return &cobra.Command{Use: verb + " NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			if _, err := c.call(cmd.Context(), method, "/connectors/"+url.PathEscape(args[0])+suffix, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%s: %s requested\n", args[0], verb)
			return nil
		}}
}

func newRestartCmd(cf *clientFlags) *cobra.Command {
	var onlyFailed bool
	cmd := &cobra.Command{Use: "restart NAME", Short: "Restart a connector's tasks", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"includeTasks": {"true"}, "onlyFailed": {strconv.FormatBool(onlyFailed)}}
			path := "/connectors/" + url.PathEscape(args[0]) + "/restart?" + q.Encode()
			if _, err := c.call(cmd.Context(), "POST", path, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%s: restart requested\n", args[0])
			return nil
		}}
	cmd.Flags().BoolVar(&onlyFailed, "only-failed", false, "restart only failed tasks")
	return cmd
}

func newSnapshotCmd(cf *clientFlags) *cobra.Command {
	var tables []string
	cmd := &cobra.Command{Use: "snapshot NAME", Short: "Ask a CDC source for an incremental snapshot of tables while it streams",
		Long: "Ask a CDC source (mysql-cdc, postgres-cdc) to read tables again in primary-key chunks while it goes on streaming " +
			"changes; without --tables every captured table. braid connectors status NAME shows the progress per table.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			var got api.SnapshotAccepted
			data, err := c.call(cmd.Context(), "POST", "/connectors/"+url.PathEscape(args[0])+"/snapshot", api.SnapshotRequest{Tables: tables}, &got)
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(data)
			}
			what := "every captured table"
			if len(got.Tables) > 0 {
				what = strings.Join(got.Tables, ", ")
			}
			fmt.Fprintf(c.out, "%s: snapshot %d of %s requested\n", args[0], got.ID, what)
			return nil
		}}
	cmd.Flags().StringSliceVar(&tables, "tables", nil, "tables to snapshot (db.table or schema.table, comma-separated)")
	return cmd
}

func newOffsetsCmd(cf *clientFlags) *cobra.Command {
	var reset bool
	var set string
	cmd := &cobra.Command{Use: "offsets NAME", Short: "Show, set (--set FILE) or reset (--reset) a connector's offsets",
		Long: "Offsets can only be changed while the connector is stopped (braid connectors stop NAME).\n" +
			"--set takes a JSON file in KIP-875's shape: {\"offsets\": [{\"partition\": {...}, \"offset\": {...}}]}.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			path := "/connectors/" + url.PathEscape(args[0]) + "/offsets"
			switch {
			case reset && set != "":
				return fmt.Errorf("--reset and --set exclude each other")
			case reset:
				_, err = c.call(cmd.Context(), "DELETE", path, nil, nil)
			case set != "":
				var data []byte
				if data, err = os.ReadFile(set); err != nil {
					return fmt.Errorf("--set: %w", err)
				}
				_, err = c.do(cmd.Context(), "PATCH", path, bytes.NewReader(data), "application/json")
			}
			if err != nil {
				return err
			}
			return showOffsets(cmd, c, path)
		}}
	cmd.Flags().BoolVar(&reset, "reset", false, "reset the offsets (the connector starts over)")
	cmd.Flags().StringVar(&set, "set", "", "JSON file with the offsets to set")
	return cmd
}

func showOffsets(cmd *cobra.Command, c *client, path string) error {
	var offs api.Offsets
	data, err := c.call(cmd.Context(), "GET", path, nil, &offs)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(data)
	}
	rows := [][]string{}
	for _, o := range offs.Offsets {
		if t, ok := o.Partition["kafka_topic"]; ok {
			rows = append(rows, []string{fmt.Sprint(t), fmt.Sprint(o.Partition["kafka_partition"]), fmt.Sprint(o.Offset["kafka_offset"])})
			continue
		}
		pos := o.Offset["position"]
		if pos == nil {
			pos = "base64:" + fmt.Sprint(o.Offset["position_base64"])
		}
		rows = append(rows, []string{"task", fmt.Sprint(o.Partition["task"]), fmt.Sprint(pos)})
	}
	c.table([]string{"TOPIC", "PARTITION", "OFFSET"}, rows)
	return nil
}

// newApplyCmd uploads a pipeline file to a running braid.
func newApplyCmd(cf *clientFlags) *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{Use: "apply -f FILE [--dry-run]", Short: "Apply a pipeline file to a running braid and show what changed",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("-f: name the pipeline file")
			}
			return uploadPipeline(cmd, cf, file, "/pipelines?"+url.Values{
				"dry_run": {strconv.FormatBool(dryRun)}, "file": {filepath.Base(file)}}.Encode(), "PUT")
		}}
	cmd.Flags().StringVarP(&file, "file", "f", "", "pipeline file")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only show what would change")
	return cmd
}

// newValidateCmd lints a pipeline file on the server, against its plugins.
func newValidateCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{Use: "validate FILE", Short: "Check a pipeline file against a running braid's connectors (server-side lint)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return uploadPipeline(cmd, cf, args[0], "/pipelines/lint?"+url.Values{"file": {filepath.Base(args[0])}}.Encode(), "POST")
		}}
}

func uploadPipeline(cmd *cobra.Command, cf *clientFlags, file, path, method string) error {
	c, err := cf.client(cmd)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	data, err := c.do(cmd.Context(), method, path, bytes.NewReader(body), "application/yaml")
	if err != nil {
		if c.json && len(data) > 0 {
			_ = c.printJSON(data)
			return exitError{code: 1}
		}
		return c.lintFailure(err)
	}
	if c.json {
		return c.printJSON(data)
	}
	var res api.ApplyResult
	if err := jsonUnmarshal(data, &res); err != nil {
		return err
	}
	switch {
	case method == "POST":
		fmt.Fprintf(c.out, "%s: no problems\n", file)
	case res.DryRun:
		fmt.Fprint(c.out, res.Diff)
		fmt.Fprintln(c.out, "(dry run: nothing applied)")
	default:
		fmt.Fprint(c.out, res.Diff)
	}
	return nil
}
