package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/runtime/api"
	"github.com/braidhq/braid/runtime/log"
	"github.com/spf13/cobra"
)

func jsonUnmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	return nil
}

// newTopicsCmd inspects the log's topics through the REST API.
func newTopicsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Aliases: []string{"topic"}, Short: "List, describe and tail the topics of a running braid"}
	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: "List topics", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return topicsList(cmd, cf) }},
		&cobra.Command{Use: "describe NAME", Short: "Show a topic's partitions and its consumer groups' lag", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return topicDescribe(cmd, cf, args[0]) }},
		newTailCmd(cf),
	)
	complete := cf.completeNames("/topics", topicNames)
	for _, sub := range cmd.Commands() {
		if strings.HasSuffix(sub.Use, " NAME") {
			sub.ValidArgsFunction = complete
		}
	}
	return cmd
}

func topicsList(cmd *cobra.Command, cf *clientFlags) error {
	c, err := cf.client(cmd)
	if err != nil {
		return err
	}
	var topics []log.TopicInfo
	data, err := c.call(cmd.Context(), "GET", "/topics", nil, &topics)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(data)
	}
	rows := make([][]string, 0, len(topics))
	for _, t := range topics {
		rows = append(rows, []string{t.Name, strconv.Itoa(t.Config.Partitions), strconv.FormatUint(t.Messages, 10), strconv.FormatUint(t.Bytes, 10)})
	}
	c.table([]string{"NAME", "PARTITIONS", "MESSAGES", "BYTES"}, rows)
	return nil
}

func topicDescribe(cmd *cobra.Command, cf *clientFlags, name string) error {
	c, err := cf.client(cmd)
	if err != nil {
		return err
	}
	var d api.TopicDetail
	data, err := c.call(cmd.Context(), "GET", "/topics/"+url.PathEscape(name), nil, &d)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(data)
	}
	fmt.Fprintf(c.out, "topic %s: %d partition(s), %d message(s), %d bytes, discard %s\n",
		d.Name, d.Config.Partitions, d.Messages, d.Bytes, d.Config.Discard)
	rows := [][]string{}
	for _, p := range d.Partitions {
		rows = append(rows, []string{strconv.Itoa(int(p.Partition)), strconv.FormatInt(p.FirstOffset, 10),
			strconv.FormatInt(p.LastOffset, 10), strconv.FormatInt(p.Messages, 10)})
	}
	c.table([]string{"PARTITION", "FIRST OFFSET", "LAST OFFSET", "MESSAGES"}, rows)
	if len(d.Groups) > 0 {
		fmt.Fprintln(c.out)
		rows = rows[:0]
		for _, g := range d.Groups {
			parts := make([]int32, 0, len(g.Lag))
			for p := range g.Lag {
				parts = append(parts, p)
			}
			sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
			for _, p := range parts {
				committed := "-" // nothing committed in this partition
				if c, ok := g.Committed[p]; ok {
					committed = strconv.FormatInt(c, 10)
				}
				rows = append(rows, []string{g.Group, strconv.Itoa(int(p)), committed, strconv.FormatInt(g.Lag[p], 10)})
			}
		}
		c.table([]string{"GROUP", "PARTITION", "COMMITTED", "LAG"}, rows)
	}
	return nil
}

type tailFlags struct {
	partition int
	from      string
	interval  time.Duration
	max       int
}

func newTailCmd(cf *clientFlags) *cobra.Command {
	tf := &tailFlags{}
	cmd := &cobra.Command{Use: "tail NAME", Short: "Print a topic's records as they arrive (polls the records route)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return tail(cmd, cf, tf, args[0]) }}
	fl := cmd.Flags()
	fl.IntVarP(&tf.partition, "partition", "p", -1, "partition to follow (default: all)")
	fl.StringVar(&tf.from, "from", "latest", "where to start: earliest, latest or an offset")
	fl.DurationVar(&tf.interval, "interval", 500*time.Millisecond, "poll interval")
	fl.IntVarP(&tf.max, "max", "n", 0, "exit after this many records (0: follow until interrupted)")
	return cmd
}

func tail(cmd *cobra.Command, cf *clientFlags, tf *tailFlags, topic string) error {
	c, err := cf.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var d api.TopicDetail
	if _, err := c.call(ctx, "GET", "/topics/"+url.PathEscape(topic), nil, &d); err != nil {
		return err
	}
	next := map[int32]string{}
	for _, p := range d.Partitions {
		if tf.partition < 0 || int(p.Partition) == tf.partition {
			next[p.Partition] = tf.from
		}
	}
	if len(next) == 0 {
		return fmt.Errorf("--partition: topic %s has no partition %d", topic, tf.partition)
	}
	seen := 0
	for {
		for p, from := range next {
			n, nextOff, err := tailPage(ctx, c, topic, p, from, tf.max-seen)
			if err != nil {
				return err
			}
			seen += n
			next[p] = nextOff
			if tf.max > 0 && seen >= tf.max {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tf.interval):
		}
	}
}

// tailPage prints one page of a partition and returns the next offset.
func tailPage(ctx context.Context, c *client, topic string, p int32, from string, limit int) (int, string, error) {
	q := url.Values{"partition": {strconv.Itoa(int(p))}, "offset": {from}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page api.Records
	if _, err := c.call(ctx, "GET", "/topics/"+url.PathEscape(topic)+"/records?"+q.Encode(), nil, &page); err != nil {
		return 0, from, err
	}
	for _, r := range page.Records {
		if c.json {
			line, _ := json.Marshal(r)
			fmt.Fprintln(c.out, string(line))
			continue
		}
		v := fmt.Sprint(r.Value)
		if r.ValueEncoding == "json" {
			b, _ := json.Marshal(r.Value)
			v = string(b)
		}
		fmt.Fprintf(c.out, "%d/%d\t%s\n", r.Partition, r.Offset, v)
	}
	return len(page.Records), strconv.FormatInt(page.NextOffset, 10), nil
}

// newPluginsCmd lists the connector types of a running braid.
func newPluginsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "plugins", Short: "List the connector types of a running braid"}
	cmd.AddCommand(&cobra.Command{Use: "list", Short: "List connector types", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			var plugins []api.PluginInfo
			data, err := c.call(cmd.Context(), "GET", "/connector-plugins", nil, &plugins)
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(data)
			}
			rows := make([][]string, 0, len(plugins))
			for _, p := range plugins {
				rows = append(rows, []string{p.Class, string(p.Type), p.Version, p.Summary})
			}
			c.table([]string{"CONNECTOR", "KIND", "VERSION", "SUMMARY"}, rows)
			return nil
		}})
	return cmd
}
