package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/api"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/natsd"
	"github.com/spf13/cobra"
)

type runFlags struct {
	file       string
	dataDir    string
	memory     string
	httpAddr   string
	once       bool
	timeout    time.Duration
	natsURL    string
	replicas   int
	natsListen string
	watch      bool
	workerID   string
	// REST API security and the log levels it changes (serve.go).
	tokenFile, tlsCert, tlsKey string
	levels                     *api.Levels
	// kafka is the Kafka protocol listener (kafka.go); kafkaSet when given.
	kafka    string
	kafkaSet bool
	// kafkaAdvertise is the host:port Kafka clients are told to use.
	kafkaAdvertise string
	// The Kafka listener's users file and TLS files (kafka.go).
	kafkaUsers, kafkaTLSCert, kafkaTLSKey string
	// allowPaths confine the files of connectors created over the API.
	allowPaths []string
	plugins    pluginFlags
}

func newRunCmd(g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [-f] [pipeline.yaml]",
		Short: "Run pipelines on the embedded log (or an external NATS cluster) until interrupted",
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return fmt.Errorf("one pipeline file per run, got %d: %s", len(args), strings.Join(args, " "))
			case len(args) == 1 && f.file != "" && f.file != args[0]:
				return fmt.Errorf("two pipeline files, -f %s and %s: name one", f.file, args[0])
			case len(args) == 1:
				f.file = args[0] // braid run pipeline.yaml, as braid lint takes it
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger()
			if err != nil {
				return err
			}
			f.kafkaSet = cmd.Flags().Changed("kafka")
			return run(cmd.Context(), f, logger)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "pipeline file to run (and watch for changes)")
	fl.StringVar(&f.dataDir, "data-dir", "./data", "directory for the embedded log's files")
	fl.StringVar(&f.httpAddr, "http", "127.0.0.1:8083", "REST API listen address; empty disables it")
	fl.BoolVar(&f.once, "once", false, "exit once every source reached the end of its input and every sink caught up")
	fl.DurationVar(&f.timeout, "timeout", 0, "with --once: give up after this long (0: no limit)")
	fl.StringVar(&f.natsURL, "nats-url", "", "external NATS cluster URL (overrides the pipeline file's nats.url)")
	fl.IntVar(&f.replicas, "replicas", 0, "on an external cluster: replicas of new topics and of the state buckets (0: 3 when the cluster has at least 3 servers, else 1)")
	fl.StringVar(&f.natsListen, "nats-listen", "", "open a client port on the embedded NATS server (e.g. 127.0.0.1:4333)")
	fl.BoolVar(&f.watch, "watch", true, "reload the pipeline file when it changes")
	fl.StringVar(&f.workerID, "worker-id", "", "this worker's id (default: the host name and a hash of --data-dir, so a restarted worker takes its tasks back at once)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the REST API bearer token (default: env BRAID_TOKEN); required beyond loopback")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "REST API TLS certificate file (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "REST API TLS key file (PEM)")
	fl.StringVar(&f.kafka, "kafka", defaultKafkaAddr, "serve the Kafka protocol on this address (beyond loopback it needs --kafka-users and --kafka-tls-cert); off disables it (overrides the pipeline file's kafka.listen)")
	fl.StringVar(&f.kafkaAdvertise, "kafka-advertise", "", "the host:port Kafka clients and the other workers are told to reach this worker's listener at (default: the listen address)")
	fl.StringVar(&f.kafkaUsers, "kafka-users", "", "Kafka listener credentials file (user:password or user:SCRAM-SHA-256$... lines): clients authenticate with SASL PLAIN or SCRAM-SHA-256 (overrides kafka.users)")
	fl.StringVar(&f.kafkaTLSCert, "kafka-tls-cert", "", "Kafka listener TLS certificate file (PEM; overrides kafka.tls.cert; --tls-cert is not reused)")
	fl.StringVar(&f.kafkaTLSKey, "kafka-tls-key", "", "Kafka listener TLS key file (PEM; overrides kafka.tls.key)")
	fl.StringVar(&f.memory, "memory", cmp.Or(os.Getenv("BRAID_MEMORY"), defaultMemory), "memory budget of the process, e.g. 256MiB, or none (default: env BRAID_MEMORY, else 1GiB): Go's memory gets a soft limit of this less the ~56 MiB the binary's mapped code takes, and the GC works harder near it rather than let the process grow")
	fl.StringArrayVar(&f.allowPaths, "allow-path", nil, "directory the file settings of connectors created over the REST API may name; repeatable (default: --data-dir and the working directory)")
	f.plugins.register(fl)
	return cmd
}

func run(ctx context.Context, f *runFlags, logger *slog.Logger) error {
	logger, f.levels = api.Leveled(logger) // levels /admin/loggers can change
	if err := applyMemory(f.memory, logger); err != nil {
		return err
	}
	builtin.RegisterConverters()
	plugins := f.plugins.connectors(ctx, f.dataDir, logger)
	var p *pipelines.Pipeline
	if f.file != "" {
		var lints []pipelines.Lint
		p, lints = pipelines.Load(f.file, engine.Catalog(plugins))
		if len(lints) > 0 {
			for _, l := range lints {
				fmt.Println(l.String())
			}
			return fmt.Errorf("%s: %d problem(s); nothing started", f.file, len(lints))
		}
	}
	nc := natsd.Config{DataDir: f.dataDir, Listen: f.natsListen, URL: f.natsURL}
	if nc.URL == "" && p != nil && p.NATS != nil {
		nc.URL, nc.CredsFile, nc.Token = p.NATS.URL, p.NATS.Creds, p.NATS.Token
		nc.TLSCA, nc.TLSCert, nc.TLSKey = p.NATS.TLS.CA, p.NATS.TLS.Cert, p.NATS.TLS.Key
	}
	// A signal while starting is a shutdown, not a failure: what a start-up
	// step says after it is only that the signal cut it short.
	startErr := func(err error) error {
		if ctx.Err() != nil {
			logger.Info("interrupted while starting", "step", err)
			return nil
		}
		return err
	}
	eng, err := engine.Start(ctx, engine.Options{NATS: nc, Plugins: plugins, Logger: logger, DataDir: f.dataDir, WorkerID: f.workerID, Replicas: f.replicas})
	if err != nil {
		return startErr(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := eng.Close(cctx); err != nil {
			logger.Warn("shutdown", "err", err)
		}
		logger.Info("stopped")
	}()
	if p != nil {
		changes, err := eng.Apply(ctx, p, false)
		if err != nil {
			return startErr(err)
		}
		logger.Info("pipeline applied", "pipeline", p.Name, "file", f.file, "changes", changes.String())
	}
	stopServe, err := serve(ctx, f, eng, logger)
	if err != nil {
		return startErr(err)
	}
	defer stopServe()
	stopKafka, err := serveKafka(ctx, f, eng, logger)
	if err != nil {
		return startErr(err)
	}
	defer stopKafka()
	if f.once {
		wctx := ctx
		if f.timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, f.timeout)
			defer cancel()
		}
		if err := eng.Worker.WaitIdle(wctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		logger.Info("all sources finished and all sinks caught up")
		return nil
	}
	select {
	case <-ctx.Done():
		logger.Info("interrupted; stopping gracefully")
		return nil
	case <-eng.Conn.Closed():
		// The client gave up on NATS: exit non-zero so a supervisor
		// starts a fresh process instead of one that can do nothing.
		return fmt.Errorf("stopping: %w", eng.Conn.Healthy())
	}
}
