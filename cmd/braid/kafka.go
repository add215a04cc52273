package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/runtime/kafka"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
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
	if p := eng.Current(); p != nil && p.Kafka != nil && p.Kafka.Listen != "" {
		return p.Kafka.Listen, true
	}
	return defaultKafkaAddr, false
}

// kafkaFiles picks the users file and TLS files: the flags when given
// (cert and key together), else the pipeline file's kafka section. The
// REST API's --tls-cert is not reused: turning TLS on for Kafka clients
// is a choice of its own.
func kafkaFiles(f *runFlags, p *pipelines.Pipeline) (users, cert, key string) {
	users, cert, key = f.kafkaUsers, f.kafkaTLSCert, f.kafkaTLSKey
	if p != nil && p.Kafka != nil {
		if users == "" {
			users = p.Kafka.Users
		}
		if cert == "" && key == "" {
			cert, key = p.Kafka.TLS.Cert, p.Kafka.TLS.Key
		}
	}
	return users, cert, key
}

// kafkaOptions loads the listener's users and certificate.
func kafkaOptions(f *runFlags, p *pipelines.Pipeline, logger *slog.Logger) (kafka.Options, error) {
	var o kafka.Options
	usersFile, cert, key := kafkaFiles(f, p)
	if usersFile != "" {
		u, err := kafka.ReadUsersFile(usersFile, logger)
		if err != nil {
			return o, err
		}
		o.Users = u
	}
	if (cert == "") != (key == "") {
		return o, errors.New("--kafka-tls-cert and --kafka-tls-key go together; give both or neither")
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return o, fmt.Errorf("kafka TLS: %w", err)
		}
		o.TLS = &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// serveKafka starts the Kafka protocol listener; it returns a stop function.
func serveKafka(ctx context.Context, f *runFlags, eng *engine.Engine, logger *slog.Logger) (func(), error) {
	addr, explicit := kafkaAddr(f, eng)
	if addr == "" || addr == "off" {
		return func() {}, nil
	}
	opts, err := kafkaOptions(f, eng.Current(), logger)
	if err != nil {
		return nil, err
	}
	opts.Addr, opts.Logger, opts.Registerer = addr, logger, eng.Registry
	opts.Advertise, opts.WorkerID = f.kafkaAdvertise, eng.Worker.ID()
	srv := kafka.New(eng.Log, opts)
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
	var auth kafkaClientFlags
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the brokers, topics and consumer groups the Kafka listener serves (as a Kafka client sees them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			opts, err := auth.options()
			if err != nil {
				return err
			}
			st, err := kafkaStatus(ctx, addr, opts...)
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
	auth.register(status)
	cmd.AddCommand(status)
	cmd.AddCommand(newKafkaVerifierCmd())
	return cmd
}

// kafkaClientFlags connect to a listener with users and TLS.
type kafkaClientFlags struct {
	user, passwordFile, mechanism string
	tls, insecure                 bool
	ca                            string
}

func (a *kafkaClientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&a.user, "user", "", "authenticate as this user (SASL)")
	fl.StringVar(&a.passwordFile, "password-file", "", "file holding the password (first line; default: env BRAID_KAFKA_PASSWORD)")
	fl.StringVar(&a.mechanism, "mechanism", "SCRAM-SHA-256", "SASL mechanism: SCRAM-SHA-256 or PLAIN")
	fl.BoolVar(&a.tls, "tls", false, "connect with TLS (implied by --tls-ca and --insecure-skip-verify)")
	fl.StringVar(&a.ca, "tls-ca", "", "PEM file of the CA that signed the listener's certificate (default: the system's)")
	fl.BoolVar(&a.insecure, "insecure-skip-verify", false, "do not verify the listener's certificate (testing only)")
}

func (a *kafkaClientFlags) options() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if a.tls || a.ca != "" || a.insecure {
		c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: a.insecure}
		if a.ca != "" {
			pem, err := os.ReadFile(a.ca)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			c.RootCAs = x509.NewCertPool()
			if !c.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", a.ca)
			}
		}
		opts = append(opts, kgo.DialTLSConfig(c))
	}
	if a.user == "" {
		if a.passwordFile != "" {
			return nil, errors.New("--password-file needs --user")
		}
		return opts, nil
	}
	pass, err := kafkaPassword(a.passwordFile)
	if err != nil {
		return nil, err
	}
	var mech sasl.Mechanism
	switch strings.ToUpper(a.mechanism) {
	case "SCRAM-SHA-256":
		mech = scram.Auth{User: a.user, Pass: pass}.AsSha256Mechanism()
	case "PLAIN":
		mech = plain.Auth{User: a.user, Pass: pass}.AsMechanism()
	default:
		return nil, fmt.Errorf("--mechanism %q: use SCRAM-SHA-256 or PLAIN", a.mechanism)
	}
	return append(opts, kgo.SASL(mech)), nil
}

// kafkaPassword reads the first line of file, or BRAID_KAFKA_PASSWORD.
func kafkaPassword(file string) (string, error) {
	if file == "" {
		pass := os.Getenv("BRAID_KAFKA_PASSWORD")
		if pass == "" {
			return "", errors.New("--user needs a password: give --password-file FILE or set BRAID_KAFKA_PASSWORD")
		}
		return pass, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	pass, _, _ := strings.Cut(string(data), "\n")
	pass = strings.TrimSuffix(pass, "\r")
	if pass == "" {
		return "", fmt.Errorf("--password-file: %s is empty", file)
	}
	return pass, nil
}

// newKafkaVerifierCmd prints a users-file line that holds no cleartext.
func newKafkaVerifierCmd() *cobra.Command {
	var passwordFile string
	cmd := &cobra.Command{
		Use:   "verifier USER",
		Short: "Print a Kafka users-file line for USER with a SCRAM-SHA-256 verifier instead of the password",
		Long: `Print a line for the --kafka-users file: USER:SCRAM-SHA-256$4096:salt$StoredKey:ServerKey.
The password comes from --password-file or BRAID_KAFKA_PASSWORD; the line
lets clients authenticate with SCRAM-SHA-256 and PLAIN without the file
holding the password.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pass, err := kafkaPassword(passwordFile)
			if err != nil {
				return err
			}
			v, err := kafka.Verifier(pass)
			if err != nil {
				return err
			}
			line := args[0] + ":" + v
			if _, err := kafka.ParseUsers(strings.NewReader(line)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return nil
		},
	}
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "file holding the password (first line; default: env BRAID_KAFKA_PASSWORD)")
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
func kafkaStatus(ctx context.Context, addr string, opts ...kgo.Opt) (*kafkaStatusOut, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(1), kgo.RetryTimeout(5 * time.Second)}, opts...)...)
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
