package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/braidhq/braid/runtime/api"
	"github.com/spf13/cobra"
)

// newDLQCmd works on dead-letter topics through the REST API.
func newDLQCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Replay the dead letters of a running braid"}
	var partition int
	replay := &cobra.Command{Use: "replay DLQ OFFSET|FIRST-LAST...",
		Short: "Re-publish dead letters to their origin topic (POST /topics/{dlq}/replay)",
		Long: "Re-publishes the named records of a dead-letter topic to the topic their braid.dlq.topic header names, " +
			"without their braid.dlq.* headers and with braid.replayed.from. Every sink of that topic sees them again. " +
			"Offsets are single numbers or ranges (3-7); at most 1000 per call.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			offsets, err := parseOffsets(args[1:])
			if err != nil {
				return err
			}
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			var res api.ReplayResult
			data, err := c.call(cmd.Context(), "POST", "/topics/"+url.PathEscape(args[0])+"/replay",
				api.ReplayRequest{Partition: int32(partition), Offsets: offsets}, &res)
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(data)
			}
			rows := make([][]string, 0, len(res.Replayed))
			for _, r := range res.Replayed {
				rows = append(rows, []string{strconv.FormatInt(r.Offset, 10), r.Topic, strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.NewOffset, 10)})
			}
			c.table([]string{"DLQ OFFSET", "TOPIC", "PARTITION", "NEW OFFSET"}, rows)
			return nil
		}}
	replay.Flags().IntVarP(&partition, "partition", "p", 0, "partition of the dead-letter topic")
	replay.ValidArgsFunction = cf.completeNames("/topics", topicNames)
	cmd.AddCommand(replay)
	return cmd
}

// maxOffsetArgs bounds what ranges may expand to (the API takes 1000).
const maxOffsetArgs = 1000

// parseOffsets reads offsets and FIRST-LAST ranges.
func parseOffsets(args []string) ([]int64, error) {
	var out []int64
	for _, a := range args {
		first, last, isRange := strings.Cut(a, "-")
		lo, err1 := strconv.ParseInt(first, 10, 64)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.ParseInt(last, 10, 64)
		}
		if err1 != nil || err2 != nil || lo < 0 || hi < lo {
			return nil, fmt.Errorf("offset %q: want a number or a range FIRST-LAST (3-7)", a)
		}
		if hi-lo >= maxOffsetArgs || len(out)+int(hi-lo+1) > maxOffsetArgs {
			return nil, fmt.Errorf("offset %q: at most %d offsets per replay", a, maxOffsetArgs)
		}
		for o := lo; o <= hi; o++ {
			out = append(out, o)
		}
	}
	return out, nil
}
