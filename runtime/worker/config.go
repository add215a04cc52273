package worker

import (
	"fmt"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// Tolerance says what a record error does.
type Tolerance string

const (
	// ToleranceNone fails the task on the first record error.
	ToleranceNone Tolerance = "none"
	// ToleranceAll sends failing records to the dead-letter topic and goes on.
	ToleranceAll Tolerance = "all"
)

// ErrorPolicy is a connector's error handling.
type ErrorPolicy struct {
	Tolerance       Tolerance `json:"tolerance"`
	DeadLetterTopic string    `json:"dead_letter_topic,omitempty"`
	// Retries is nil for the default; 0 retries not at all.
	Retries         *int          `json:"retries"`
	RetryBackoff    time.Duration `json:"retry_backoff"`
	RetryMaxBackoff time.Duration `json:"retry_max_backoff"`
}

// retries is how often a retryable error is retried.
func (e ErrorPolicy) retries() int {
	if e.Retries == nil {
		return 0
	}
	return *e.Retries
}

// TransformConfig is one step of a transform chain.
type TransformConfig struct {
	Type   string         `json:"type"`
	Config map[string]any `json:"config,omitempty"`
}

// ConverterConfig names a converter and its options.
type ConverterConfig struct {
	Type    string         `json:"type,omitempty"`
	Options map[string]any `json:"options,omitempty"`
}

// ConnectorConfig is everything the worker needs to run one connector.
type ConnectorConfig struct {
	Name       string            `json:"name"`
	Pipeline   string            `json:"pipeline,omitempty"`
	Kind       sdk.Kind          `json:"kind"`
	Plugin     string            `json:"connector"`
	Config     map[string]any    `json:"config"`
	Topic      string            `json:"topic,omitempty"`  // a source's topic
	Topics     []string          `json:"topics,omitempty"` // a sink's topics
	Tasks      int               `json:"tasks,omitempty"`
	Group      string            `json:"group,omitempty"`
	Start      string            `json:"start,omitempty"` // earliest (default) or latest
	Transforms []TransformConfig `json:"transforms,omitempty"`
	Converter  ConverterConfig   `json:"converter,omitempty"`
	Errors     ErrorPolicy       `json:"errors"`
	// BatchSize bounds records per sink fetch and write (sdk.SettingBatchSize).
	BatchSize int `json:"batch_size,omitempty"`
}

// Settings returns the worker's settings of c under the names of
// sdk.Spec.WorkerSpec, leaving out those that are unset. Group and start
// mean nothing to a source and are left out for one.
func (c ConnectorConfig) Settings() map[string]any {
	m := map[string]any{}
	put := func(name string, v any, set bool) {
		if set {
			m[name] = v
		}
	}
	put(sdk.SettingTasks, c.Tasks, c.Tasks != 0)
	put(sdk.SettingBatchSize, c.BatchSize, c.BatchSize != 0)
	put(sdk.SettingConverter, c.Converter.Type, c.Converter.Type != "")
	if c.Kind == sdk.KindSink {
		put(sdk.SettingGroup, c.Group, c.Group != "")
		put(sdk.SettingStart, c.Start, c.Start != "")
	}
	put(sdk.SettingTolerance, string(c.Errors.Tolerance), c.Errors.Tolerance != "")
	put(sdk.SettingDeadLetterTopic, c.Errors.DeadLetterTopic, c.Errors.DeadLetterTopic != "")
	put(sdk.SettingRetries, c.Errors.retries(), c.Errors.Retries != nil)
	put(sdk.SettingRetryBackoff, c.Errors.RetryBackoff, c.Errors.RetryBackoff != 0)
	put(sdk.SettingRetryMaxBackoff, c.Errors.RetryMaxBackoff, c.Errors.RetryMaxBackoff != 0)
	return m
}

// SetSettings validates raw, the worker's settings as sdk.Spec.WorkerSpec
// names them, for a connector of spec and sets them on c with the spec's
// defaults. The errors name the settings.
func (c *ConnectorConfig) SetSettings(spec sdk.Spec, raw map[string]any) error {
	ws := spec.WorkerSpec()
	ws.Name = c.Name
	cfg, err := ws.Validate(raw)
	if err != nil {
		return err
	}
	c.Tasks = int(cfg.Int(sdk.SettingTasks))
	c.BatchSize = int(cfg.Int(sdk.SettingBatchSize))
	c.Converter.Type = cfg.String(sdk.SettingConverter)
	c.Group, c.Start = "", ""
	if c.Kind == sdk.KindSink {
		c.Group, c.Start = cfg.String(sdk.SettingGroup), cfg.String(sdk.SettingStart)
	}
	retries := int(cfg.Int(sdk.SettingRetries))
	c.Errors = ErrorPolicy{
		Tolerance:       Tolerance(cfg.String(sdk.SettingTolerance)),
		DeadLetterTopic: cfg.String(sdk.SettingDeadLetterTopic),
		Retries:         &retries,
		RetryBackoff:    cfg.Duration(sdk.SettingRetryBackoff),
		RetryMaxBackoff: cfg.Duration(sdk.SettingRetryMaxBackoff),
	}
	return nil
}

// resolve validates c's worker settings for a connector of spec and fills
// the unset ones: the spec's defaults, then those derived from the
// connector's name.
func (c ConnectorConfig) resolve(spec sdk.Spec) (ConnectorConfig, error) {
	if err := c.SetSettings(spec, c.Settings()); err != nil {
		return c, err
	}
	if c.Errors.Tolerance == ToleranceAll && c.Errors.DeadLetterTopic == "" {
		c.Errors.DeadLetterTopic = c.Name + "-dlq"
	}
	if c.Group == "" && c.Kind == sdk.KindSink {
		c.Group = defaultGroup(c.Pipeline, c.Name)
	}
	if c.Converter.Type == "" {
		c.Converter.Type = sdk.DefaultConverter
	}
	return c, nil
}

// Validate reports the first mistake in what is not a setting (name, kind,
// topics), naming the field; the settings are checked against the
// connector's spec when it is put.
func (c ConnectorConfig) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: name: missing", sdk.ErrInvalidConfig)
	case c.Kind != sdk.KindSource && c.Kind != sdk.KindSink:
		return fmt.Errorf("%w: connector %s: kind: must be source or sink", sdk.ErrInvalidConfig, c.Name)
	case c.Kind == sdk.KindSource && c.Topic == "":
		return fmt.Errorf("%w: connector %s: topic: a source needs a topic", sdk.ErrInvalidConfig, c.Name)
	case c.Kind == sdk.KindSink && len(c.Topics) == 0:
		return fmt.Errorf("%w: connector %s: topics: a sink needs at least one topic", sdk.ErrInvalidConfig, c.Name)
	}
	return nil
}

// backoff returns the wait before retry n (0-based), doubling up to max.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
