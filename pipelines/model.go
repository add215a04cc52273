package pipelines

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// Version is the pipeline file format version this package reads.
const Version = 1

// Defaults of a topic's settings; a connector's come from its worker
// spec (sdk.Spec.WorkerSpec), which the REST API and the worker share.
const (
	DefaultPartitions = 1
	DefaultReplicas   = 1
	DefaultConverter  = sdk.DefaultConverter
)

// Pipeline is a parsed, validated pipeline file.
type Pipeline struct {
	Name string `json:"name"`
	// File is the name the pipeline was parsed under (its path for Load).
	File string `json:"file,omitempty"`
	// NATS is the external cluster to use; nil runs the embedded server.
	NATS *NATS `json:"nats,omitempty"`
	// Kafka is the worker's Kafka protocol listener; nil: the default
	// (127.0.0.1:9092, or braid run's --kafka).
	Kafka *Kafka `json:"kafka,omitempty"`
	// Topics in file order.
	Topics  []TopicSpec  `json:"topics"`
	Sources []*Connector `json:"sources"`
	Sinks   []*Connector `json:"sinks"`
}

// Topic returns the named topic, or nil.
func (p *Pipeline) Topic(name string) *TopicSpec {
	for i := range p.Topics {
		if p.Topics[i].Name == name {
			return &p.Topics[i]
		}
	}
	return nil
}

// Connector returns the named source or sink, or nil.
func (p *Pipeline) Connector(name string) *Connector {
	for _, c := range p.Connectors() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Connectors returns the sources, then the sinks.
func (p *Pipeline) Connectors() []*Connector {
	out := make([]*Connector, 0, len(p.Sources)+len(p.Sinks))
	return append(append(out, p.Sources...), p.Sinks...)
}

// NATS is the connection to an external NATS JetStream cluster.
type NATS struct {
	URL   string `json:"url"`
	Creds string `json:"creds,omitempty"` // path of a credentials file
	Token string `json:"-"`               // secret
	TLS   TLS    `json:"tls,omitzero"`
}

// Kafka configures the Kafka protocol listener.
type Kafka struct {
	// Listen is host:port, or "off" ("": the default).
	Listen string `json:"listen,omitempty"`
	// Users is the credentials file: clients authenticate with SASL.
	Users string `json:"users,omitempty"`
	// TLS is the listener's certificate and key (CA is unused).
	TLS TLS `json:"tls,omitzero"`
}

// TLS names the PEM files for a TLS connection.
type TLS struct {
	CA   string `json:"ca,omitempty"`
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
}

// MarshalJSON hides the token and any password in the URL.
func (n NATS) MarshalJSON() ([]byte, error) {
	type plain NATS
	out := struct {
		plain
		Token string `json:"token,omitempty"`
	}{plain: plain(n)}
	out.URL = sdk.RedactURLs(hideTokens(n.URL))
	if n.Token != "" {
		out.Token = sdk.Hidden
	}
	return json.Marshal(out)
}

// hideTokens hides a bare token in the user part of each URL of a
// comma-separated list (nats://token@host); sdk.RedactURLs hides passwords.
func hideTokens(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, has := u.User.Password(); !has {
				u.User = url.User("hidden")
				parts[i] = u.String()
			}
		}
	}
	return strings.Join(parts, ",")
}

// TopicSpec is a topic as declared in the file, defaults applied. Its fields
// mirror runtime/log.TopicConfig.
type TopicSpec struct {
	Name       string        `json:"name"`
	Partitions int           `json:"partitions"`
	Retention  time.Duration `json:"retention,omitempty"` // 0: keep forever
	MaxBytes   int64         `json:"max_bytes,omitempty"` // 0: unbounded
	Replicas   int           `json:"replicas"`
	Discard    string        `json:"discard"` // "reject" (backpressure) or "old"
	// Batching: nil leaves the log's default (on).
	Batching    *bool  `json:"batching,omitempty"`
	Compression string `json:"compression,omitempty"` // "", "none" or "s2"
	// Converter is the topic's data format (default json).
	Converter ConverterSpec `json:"converter"`
	// Schema registers the topic's values under a registry subject; nil: none.
	Schema *SchemaSpec `json:"schema,omitempty"`
	Line   int         `json:"line,omitempty"` // where the topic is declared
}

// MarshalJSON writes the retention as a duration string ("168h0m0s").
func (t TopicSpec) MarshalJSON() ([]byte, error) {
	type plain TopicSpec
	out := struct {
		plain
		Retention string `json:"retention,omitempty"`
	}{plain: plain(t)}
	if t.Retention > 0 {
		out.Retention = t.Retention.String()
	}
	return json.Marshal(out)
}

// SchemaSpec ties a topic to a schema registry subject.
type SchemaSpec struct {
	Format        string `json:"format"`                  // avro, protobuf or jsonschema
	Subject       string `json:"subject"`                 // default "<topic>-value"
	Compatibility string `json:"compatibility,omitempty"` // "": the registry's default
}

// ConverterSpec picks a converter and its options. An empty Type on a
// connector means "the topic's converter".
type ConverterSpec struct {
	Type    string         `json:"type,omitempty"`
	Options map[string]any `json:"options,omitempty"`
}

// ErrorPolicy says what a connector does with a record it cannot handle.
type ErrorPolicy struct {
	// Tolerance: "none" fails the task after the retries; "all" sends the
	// record to DeadLetterTopic (or skips it when there is none) and goes on.
	Tolerance       string        `json:"tolerance"`
	DeadLetterTopic string        `json:"dead_letter_topic,omitempty"`
	Retries         int           `json:"retries"`
	RetryBackoff    time.Duration `json:"retry_backoff"`
	RetryMaxBackoff time.Duration `json:"retry_max_backoff"`
}

// MarshalJSON writes the backoffs as duration strings ("1s").
func (e ErrorPolicy) MarshalJSON() ([]byte, error) {
	type plain ErrorPolicy
	return json.Marshal(struct {
		plain
		RetryBackoff    string `json:"retry_backoff"`
		RetryMaxBackoff string `json:"retry_max_backoff"`
	}{plain(e), e.RetryBackoff.String(), e.RetryMaxBackoff.String()})
}

// Start positions for a sink group that has no committed offsets yet.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Tolerance values.
const (
	ToleranceNone = "none"
	ToleranceAll  = "all"
)

// Connector is one source or sink of the pipeline.
type Connector struct {
	Name   string   `json:"name"`
	Kind   sdk.Kind `json:"kind"`
	Plugin string   `json:"connector"`        // the connector type, e.g. "mysql-cdc"
	Topic  string   `json:"topic,omitempty"`  // sources: where records go
	Topics []string `json:"topics,omitempty"` // sinks: what they read
	Tasks  int      `json:"tasks"`
	Group  string   `json:"group,omitempty"` // sinks: consumer group
	Start  string   `json:"start,omitempty"` // sinks: earliest or latest
	// BatchSize bounds records per source publish and per sink write.
	BatchSize int `json:"batch_size"`
	// Config is the validated settings, defaults applied.
	Config sdk.Config `json:"-"`
	// Raw is the interpolated settings as written. It holds secrets: show
	// Redacted() instead.
	Raw        map[string]any  `json:"-"`
	Transforms []TransformSpec `json:"transforms,omitempty"`
	Converter  ConverterSpec   `json:"converter,omitzero"`
	Errors     ErrorPolicy     `json:"errors"`
	// Hash identifies the effective configuration: equal hashes, same
	// connector. It covers secret values, so treat it as sensitive as a
	// password hash (do not show it to callers who may not see secrets).
	Hash string `json:"-"`
	Line int    `json:"line,omitempty"` // where the connector is declared

	spec sdk.Spec
}

// Spec returns the connector's spec from the catalog.
func (c *Connector) Spec() sdk.Spec { return c.spec }

// Redacted returns Raw with every secret setting hidden.
func (c *Connector) Redacted() map[string]any { return c.spec.Redact(c.Raw) }

// MarshalJSON shows the settings redacted.
func (c *Connector) MarshalJSON() ([]byte, error) {
	type plain Connector
	return json.Marshal(struct {
		*plain
		Config map[string]any `json:"config"`
	}{(*plain)(c), c.Redacted()})
}

// TransformSpec is one step of a connector's transform chain.
type TransformSpec struct {
	Type   string         `json:"type"`
	Config sdk.Config     `json:"-"`
	Raw    map[string]any `json:"-"`

	spec sdk.Spec
}

// Spec returns the transform's spec.
func (t TransformSpec) Spec() sdk.Spec { return t.spec }

// Redacted returns Raw with every secret setting hidden.
func (t TransformSpec) Redacted() map[string]any { return t.spec.Redact(t.Raw) }

// MarshalJSON shows the settings redacted.
func (t TransformSpec) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type   string         `json:"type"`
		Config map[string]any `json:"config"`
	}{t.Type, t.Redacted()})
}

// effective returns the validated settings of cfg, defaults applied, keyed
// by name: what a connector actually runs with.
func effective(spec sdk.Spec, cfg sdk.Config) map[string]any {
	out := map[string]any{}
	for _, f := range spec.Fields {
		if cfg.Has(f.Name) {
			out[f.Name] = cfg.Any(f.Name)
		}
	}
	return out
}

// hash computes Connector.Hash from everything that changes its behaviour.
func (c *Connector) hash() string {
	type tr struct {
		Type   string
		Config map[string]any
	}
	trs := make([]tr, len(c.Transforms))
	for i, t := range c.Transforms {
		trs[i] = tr{t.Type, effective(t.spec, t.Config)}
	}
	data, err := json.Marshal(struct {
		Kind       sdk.Kind
		Plugin     string
		Topic      string
		Topics     []string
		Tasks      int
		Group      string
		Start      string
		BatchSize  int
		Config     map[string]any
		Transforms []tr
		Converter  ConverterSpec
		Errors     ErrorPolicy
	}{c.Kind, c.Plugin, c.Topic, c.Topics, c.Tasks, c.Group, c.Start, c.BatchSize,
		effective(c.spec, c.Config), trs, c.Converter, c.Errors})
	if err != nil {
		// Settings are decoded YAML and always marshal; a value that does
		// not (NaN) still needs a hash that changes with it.
		data = []byte(err.Error())
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}
