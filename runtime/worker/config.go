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
	Tolerance       Tolerance     `json:"tolerance"`
	DeadLetterTopic string        `json:"dead_letter_topic,omitempty"`
	Retries         int           `json:"retries"`
	RetryBackoff    time.Duration `json:"retry_backoff"`
	RetryMaxBackoff time.Duration `json:"retry_max_backoff"`
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
	// BatchSize bounds records per sink write and per source publish (default 4096).
	BatchSize int `json:"batch_size,omitempty"`
}

// withDefaults fills unset fields.
func (c ConnectorConfig) withDefaults() ConnectorConfig {
	if c.Tasks <= 0 {
		c.Tasks = 1
	}
	if c.Errors.Tolerance == "" {
		c.Errors.Tolerance = ToleranceNone
	}
	if c.Errors.Tolerance == ToleranceAll && c.Errors.DeadLetterTopic == "" {
		c.Errors.DeadLetterTopic = c.Name + "-dlq"
	}
	if c.Errors.RetryBackoff <= 0 {
		c.Errors.RetryBackoff = time.Second
	}
	if c.Errors.RetryMaxBackoff <= 0 {
		c.Errors.RetryMaxBackoff = 30 * time.Second
	}
	if c.Errors.Retries == 0 {
		c.Errors.Retries = 5
	}
	if c.Group == "" && c.Kind == sdk.KindSink {
		c.Group = defaultGroup(c.Pipeline, c.Name)
	}
	if c.Start == "" {
		c.Start = "earliest"
	}
	if c.Converter.Type == "" {
		c.Converter.Type = "json"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 4096
	}
	return c
}

// Validate reports the first mistake, naming the field.
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
	case c.Errors.Tolerance != "" && c.Errors.Tolerance != ToleranceNone && c.Errors.Tolerance != ToleranceAll:
		return fmt.Errorf("%w: connector %s: errors.tolerance: must be none or all", sdk.ErrInvalidConfig, c.Name)
	case c.Start != "" && c.Start != "earliest" && c.Start != "latest":
		return fmt.Errorf("%w: connector %s: start: must be earliest or latest", sdk.ErrInvalidConfig, c.Name)
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
