package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/kafka"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultKafkaAddr is where braid run serves the Kafka protocol unless told
// otherwise (Kafka's own default port, on loopback).
const defaultKafkaAddr = "127.0.0.1:9092"

// kafkaAddr picks the listen address: --kafka when given, else the pipeline
// file's kafka.listen, else the default. explicit is false for the default,
// which steps aside (with a warning) when the port is taken, so several
// workers can share a machine.
func kafkaAddr(f *runFlags, eng *engine.Engine) (addr string, explicit bool) {
	if f.kafkaSet {
		return f.kafka, true
	}
	if p := eng.Current(); p != nil && p.Kafka != nil {
		return p.Kafka.Listen, true
	}
	return defaultKafkaAddr, false
}

// serveKafka starts the Kafka protocol listener; it returns a stop function.
func serveKafka(ctx context.Context, f *runFlags, eng *engine.Engine, logger *slog.Logger) (func(), error) {
	addr, explicit := kafkaAddr(f, eng)
	if addr == "" || addr == "off" {
		return func() {}, nil
	}
	srv := kafka.New(eng.Log, kafka.Options{Addr: addr, Advertise: f.kafkaAdvertise, WorkerID: eng.Worker.ID(), Logger: logger, Registerer: eng.Registry})
	if err := srv.Start(ctx); err != nil {
		if !explicit && errors.Is(err, syscall.EADDRINUSE) {
			logger.Warn("the Kafka protocol is not served: its default port is taken; give --kafka ADDR (or --kafka off)", "addr", addr)
			return func() {}, nil
		}
		return nil, fmt.Errorf("--kafka: %w", err)
	}
	return func() { _ = srv.Close() }, nil
}

func newKafkaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kafka", Short: "Inspect the Kafka protocol listener of a running braid"}
	var addr string
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the brokers, topics and consumer groups the Kafka listener serves (as a Kafka client sees them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			st, err := kafkaStatus(ctx, addr)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "cluster\t%s\n", st.Cluster)
			for _, b := range st.Brokers {
				fmt.Fprintf(tw, "broker\t%d\t%s\n", b.ID, b.Addr)
			}
			for _, t := range st.Topics {
				fmt.Fprintf(tw, "topic\t%s\t%d partitions\t%d records\n", t.Name, t.Partitions, t.Records)
			}
			for _, g := range st.Groups {
				fmt.Fprintf(tw, "group\t%s\t%s\t%d members\n", g.Name, g.State, g.Members)
			}
			return tw.Flush()
		},
	}
	status.Flags().StringVar(&addr, "addr", defaultKafkaAddr, "the Kafka listener's address")
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(status)
	return cmd
}

type kafkaStatusOut struct {
	Cluster string `json:"cluster"`
	Brokers []struct {
		ID   int32  `json:"id"`
		Addr string `json:"addr"`
	} `json:"brokers"`
	Topics []struct {
		Name       string `json:"name"`
		Partitions int    `json:"partitions"`
		Records    int64  `json:"records"` // high watermarks' sum
	} `json:"topics"`
	Groups []struct {
		Name    string `json:"name"`
		State   string `json:"state"`
		Members int    `json:"members"`
	} `json:"groups"`
}

// kafkaStatus asks the listener what any Kafka client would.
func kafkaStatus(ctx context.Context, addr string) (*kafkaStatusOut, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(1), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka listener at %s: %w", addr, err)
	}
	st := &kafkaStatusOut{Cluster: md.Cluster}
	for _, b := range md.Brokers {
		st.Brokers = append(st.Brokers, struct {
			ID   int32  `json:"id"`
			Addr string `json:"addr"`
		}{b.NodeID, fmt.Sprintf("%s:%d", b.Host, b.Port)})
	}
	ends, err := adm.ListEndOffsets(ctx, md.Topics.Names()...)
	if err != nil {
		return nil, err
	}
	for _, name := range md.Topics.Names() {
		var records int64
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic == name && o.Err == nil {
				records += o.Offset
			}
		})
		st.Topics = append(st.Topics, struct {
			Name       string `json:"name"`
			Partitions int    `json:"partitions"`
			Records    int64  `json:"records"`
		}{name, len(md.Topics[name].Partitions), records})
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	names := groups.Groups()
	sort.Strings(names)
	described, err := adm.DescribeGroups(ctx, names...)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		g := described[n]
		st.Groups = append(st.Groups, struct {
			Name    string `json:"name"`
			State   string `json:"state"`
			Members int    `json:"members"`
		}{n, g.State, len(g.Members)})
	}
	return st, nil
}
