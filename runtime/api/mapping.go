package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/transform"
	"github.com/braidhq/braid/runtime/worker"
)

// Kafka Connect configures a connector with one flat map. These keys of that
// map set the worker's fields; every other key is a connector setting (a key
// may be prefixed "config." to force that, e.g. a setting named "topic").
const (
	keyName          = "name"
	keyConnector     = "connector" // the connector type; "connector.class" is accepted too
	keyClass         = "connector.class"
	keyKind          = "kind" // source or sink; inferred when the type has only one
	keyTopic         = "topic"
	keyTopics        = "topics" // comma list or JSON array
	keyTasks         = "tasks.max"
	keyGroup         = "group"
	keyStart         = "start"
	keyTolerance     = "errors.tolerance"
	keyDLQ           = "errors.deadletterqueue.topic.name"
	keyRetries       = "errors.retries"
	keyBackoff       = "errors.retry.backoff"
	keyMaxBackoff    = "errors.retry.max.backoff"
	keyTransforms    = "transforms" // JSON array of {type, config}, or Kafka's "a,b" + transforms.a.type
	keyConverter     = "converter"  // "value.converter" is accepted too
	keyConverterOpt  = "converter." // converter.<option>
	keyBatchSize     = "batch.size"
	keyConfigPrefix  = "config." // config.<setting> is always a connector setting
	keyTransformsDot = "transforms."
)

// flatError is a mistake in a flat config, naming its key.
type flatError struct{ Key, Msg string }

func (e flatError) Error() string { return e.Key + ": " + e.Msg }

// fromFlat maps a Kafka Connect style config to the worker's config.
func fromFlat(name string, flat map[string]any, plugins sdk.Plugins) (worker.ConnectorConfig, error) {
	c := worker.ConnectorConfig{Name: name, Config: map[string]any{}}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := scalar(flat[k]); v != "" {
				return v
			}
		}
		return ""
	}
	c.Plugin = first(keyConnector, keyClass, braidPrefix+keyConnector)
	if c.Plugin == "" {
		return c, flatError{keyConnector, "missing; name the connector type, e.g. \"file\""}
	}
	c.Topic = first(braidPrefix+keyTopic, keyTopic)
	c.Topics = list(flat[keyTopics])
	if t, ok := flat[braidPrefix+keyTopics]; ok {
		c.Topics = list(t)
	}
	kind, err := inferKind(sdk.Kind(first(keyKind, braidPrefix+keyKind)), c, plugins)
	if err != nil {
		return c, err
	}
	c.Kind = kind
	plugin, _ := plugins.Lookup(kind, c.Plugin)
	wk, settings := split(flat, plugin.Spec)
	for k, v := range settings {
		c.Config[k] = settingValue(plugin.Spec.Field(k), v)
	}
	c.Topic, c.Topics = scalar(wk[keyTopic]), list(wk[keyTopics])
	if err := setSettings(&c, plugin.Spec, wk); err != nil {
		return c, err
	}
	if err := checkNames(c); err != nil {
		return c, err
	}
	if c.Transforms, err = transformsFromFlat(wk); err != nil {
		return c, err
	}
	for k, v := range wk {
		if opt, ok := strings.CutPrefix(k, keyConverterOpt); ok {
			if c.Converter.Options == nil {
				c.Converter.Options = map[string]any{}
			}
			c.Converter.Options[opt] = plain(v)
		}
	}
	return c, nil
}

// checkNames applies the log's topic rule and the one name rule to the
// names a config gives, as lint does, so a bad name answers 400 here instead
// of failing when the task starts (or reaching a NATS subject at all).
func checkNames(c worker.ConnectorConfig) error {
	check := func(key, topic string) error {
		if err := log.ValidateTopicName(topic); topic != "" && err != nil {
			return flatError{key, err.Error()}
		}
		return nil
	}
	if err := check(keyTopic, c.Topic); err != nil {
		return err
	}
	for i, t := range c.Topics {
		if err := check(fmt.Sprintf("%s[%d]", keyTopics, i), t); err != nil {
			return err
		}
	}
	if err := check(keyDLQ, c.Errors.DeadLetterTopic); err != nil {
		return err
	}
	if c.Group != "" {
		return sdk.CheckName(keyGroup, c.Group)
	}
	return nil
}

// braidPrefix forces a key to mean the worker's field when the connector
// has a setting of the same name ("braid.batch.size" beside a file source's
// own "batch.size").
const braidPrefix = "braid."

// hard keys always belong to the worker.
func hard(k string) bool {
	return k == keyName || k == keyConnector || k == keyClass || k == keyKind
}

// split sorts flat keys into worker keys and connector settings. A key the
// connector's spec declares is a setting unless prefixed "braid.".
func split(flat map[string]any, spec sdk.Spec) (wk, settings map[string]any) {
	wk, settings = map[string]any{}, map[string]any{}
	for k, v := range flat {
		switch {
		case strings.HasPrefix(k, keyConfigPrefix):
			settings[strings.TrimPrefix(k, keyConfigPrefix)] = v
		case strings.HasPrefix(k, braidPrefix):
			wk[strings.TrimPrefix(k, braidPrefix)] = v
		case hard(k):
			wk[k] = v
		case spec.Field(k) != nil:
			settings[k] = v
		case reserved(k) || strings.HasPrefix(k, keyConverterOpt):
			wk[k] = v
		default:
			settings[k] = v
		}
	}
	return wk, settings
}

// settingKeys maps the flat keys of the worker's settings to their names
// in their one spec, sdk.Spec.WorkerSpec, which lint and the worker use too.
var settingKeys = map[string]string{
	keyTasks: sdk.SettingTasks, keyBatchSize: sdk.SettingBatchSize, keyConverter: sdk.SettingConverter,
	"value.converter": sdk.SettingConverter, keyGroup: sdk.SettingGroup, keyStart: sdk.SettingStart,
	keyTolerance: sdk.SettingTolerance, keyDLQ: sdk.SettingDeadLetterTopic, keyRetries: sdk.SettingRetries,
	keyBackoff: sdk.SettingRetryBackoff, keyMaxBackoff: sdk.SettingRetryMaxBackoff,
}

// flatKey is the flat key of a worker setting, for error messages.
func flatKey(setting string) string {
	for k, s := range settingKeys {
		if s == setting && k != "value.converter" {
			return k
		}
	}
	return setting
}

// setSettings validates the worker's settings among the flat keys against
// the connector's worker spec and sets them on c, defaults applied. Every
// mistake is reported, each naming its flat key.
func setSettings(c *worker.ConnectorConfig, spec sdk.Spec, flat map[string]any) error {
	raw := map[string]any{}
	for k, v := range flat {
		name, ok := settingKeys[k]
		if !ok || scalar(v) == "" {
			continue
		}
		if _, dup := raw[name]; dup && k == "value.converter" {
			continue // converter wins
		}
		raw[name] = plain(v)
		if name == sdk.SettingRetryBackoff || name == sdk.SettingRetryMaxBackoff {
			// Kafka Connect gives durations in milliseconds.
			if ms, err := strconv.ParseInt(scalar(v), 10, 64); err == nil {
				raw[name] = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if spec.Kind == "" {
		spec.Kind = c.Kind
	}
	err := c.SetSettings(spec, raw)
	var ce *sdk.ConfigError
	if errors.As(err, &ce) {
		out := &sdk.ConfigError{Connector: ce.Connector}
		for _, fe := range ce.Errors {
			out.Errors = append(out.Errors, sdk.FieldError{Field: flatKey(fe.Field), Message: fe.Message})
		}
		return out
	}
	return err
}

func inferKind(kind sdk.Kind, c worker.ConnectorConfig, plugins sdk.Plugins) (sdk.Kind, error) {
	_, isSource := plugins.Lookup(sdk.KindSource, c.Plugin)
	_, isSink := plugins.Lookup(sdk.KindSink, c.Plugin)
	switch {
	case kind == sdk.KindSource || kind == sdk.KindSink:
		if (kind == sdk.KindSource && !isSource) || (kind == sdk.KindSink && !isSink) {
			return "", flatError{keyConnector, fmt.Sprintf("no %s connector named %q", kind, c.Plugin)}
		}
		return kind, nil
	case kind != "":
		return "", flatError{keyKind, fmt.Sprintf("must be source or sink, not %q", kind)}
	case isSource && isSink && c.Topic != "" && len(c.Topics) == 0:
		return sdk.KindSource, nil
	case isSource && isSink && c.Topic == "" && len(c.Topics) > 0:
		return sdk.KindSink, nil
	case isSource && isSink:
		return "", flatError{keyKind, fmt.Sprintf("%q is both a source and a sink; set kind to source or sink", c.Plugin)}
	case isSource:
		return sdk.KindSource, nil
	case isSink:
		return sdk.KindSink, nil
	}
	return "", flatError{keyConnector, fmt.Sprintf("no connector type named %q (GET /connector-plugins lists them)", c.Plugin)}
}

func reserved(k string) bool {
	switch k {
	case keyName, keyConnector, keyClass, keyKind, keyTopic, keyTopics, keyTasks, keyGroup, keyStart,
		keyTolerance, keyDLQ, keyRetries, keyBackoff, keyMaxBackoff, keyTransforms, keyConverter,
		"value.converter", keyBatchSize:
		return true
	}
	return strings.HasPrefix(k, keyTransformsDot)
}

// transformsFromFlat reads "transforms" as a JSON array of {type, config}
// or in Kafka's form: "transforms": "a,b", "transforms.a.type": "filter",
// "transforms.a.<setting>": value.
func transformsFromFlat(flat map[string]any) ([]worker.TransformConfig, error) {
	v, ok := flat[keyTransforms]
	if !ok || v == nil {
		return nil, nil
	}
	if arr, ok := v.([]any); ok {
		out := make([]worker.TransformConfig, 0, len(arr))
		for i, e := range arr {
			m, _ := e.(map[string]any)
			typ := scalar(m["type"])
			if typ == "" {
				return nil, flatError{fmt.Sprintf("transforms[%d].type", i), "missing"}
			}
			cfg, _ := plain(m["config"]).(map[string]any)
			out = append(out, worker.TransformConfig{Type: typ, Config: cfg})
		}
		return out, nil
	}
	var out []worker.TransformConfig
	for _, alias := range list(v) {
		prefix := keyTransformsDot + alias + "."
		typ := scalar(flat[prefix+"type"])
		if typ == "" {
			return nil, flatError{prefix + "type", "missing; name the transform type"}
		}
		tc := worker.TransformConfig{Type: typ, Config: map[string]any{}}
		for k, val := range flat {
			if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "type" {
				tc.Config[rest] = plain(val)
			}
		}
		out = append(out, tc)
	}
	return out, nil
}

// toFlat shows a worker config as a Kafka Connect flat map, secrets hidden.
func toFlat(c worker.ConnectorConfig, plugins sdk.Plugins) map[string]any {
	out := map[string]any{keyName: c.Name, keyConnector: c.Plugin, keyKind: string(c.Kind)}
	plugin, _ := plugins.Lookup(c.Kind, c.Plugin)
	spec := plugin.Spec
	for k, v := range spec.Redact(c.Config) {
		if hard(k) || strings.HasPrefix(k, keyConfigPrefix) || strings.HasPrefix(k, braidPrefix) || spec.Field(k) == nil {
			k = keyConfigPrefix + k
		}
		out[k] = v
	}
	set := func(k string, v any, zero bool) {
		if zero {
			return
		}
		if spec.Field(k) != nil {
			k = braidPrefix + k
		}
		out[k] = v
	}
	set(keyTopic, c.Topic, c.Topic == "")
	set(keyTopics, strings.Join(c.Topics, ","), len(c.Topics) == 0)
	set(keyTasks, strconv.Itoa(c.Tasks), c.Tasks == 0)
	set(keyGroup, c.Group, c.Group == "")
	set(keyStart, c.Start, c.Start == "")
	set(keyTolerance, string(c.Errors.Tolerance), c.Errors.Tolerance == "")
	set(keyDLQ, c.Errors.DeadLetterTopic, c.Errors.DeadLetterTopic == "")
	if c.Errors.Retries != nil {
		set(keyRetries, strconv.Itoa(*c.Errors.Retries), false)
	}
	set(keyBackoff, c.Errors.RetryBackoff.String(), c.Errors.RetryBackoff == 0)
	set(keyMaxBackoff, c.Errors.RetryMaxBackoff.String(), c.Errors.RetryMaxBackoff == 0)
	set(keyBatchSize, strconv.Itoa(c.BatchSize), c.BatchSize == 0)
	set(keyConverter, c.Converter.Type, c.Converter.Type == "")
	for k, v := range c.Converter.Options {
		set(keyConverterOpt+k, v, false)
	}
	if len(c.Transforms) > 0 {
		specs := transform.Specs()
		ts := make([]map[string]any, len(c.Transforms))
		for i, t := range c.Transforms {
			ts[i] = map[string]any{"type": t.Type, "config": specs[t.Type].Redact(t.Config)}
		}
		set(keyTransforms, ts, false)
	}
	return out
}

// secretValues lists c's secret values (transforms' too, and URL
// passwords), so that error traces can be scrubbed of them.
func secretValues(c worker.ConnectorConfig, plugins sdk.Plugins) []string {
	plugin, _ := plugins.Lookup(c.Kind, c.Plugin)
	out := plugin.Spec.Secrets(c.Config)
	specs := transform.Specs()
	for _, t := range c.Transforms {
		out = append(out, specs[t.Type].Secrets(t.Config)...)
	}
	return scrubList(out)
}

// scrubList drops values too short to scrub and sorts the rest longest
// first, so a secret containing another is replaced whole.
func scrubList(values []string) []string {
	out := values[:0]
	for _, v := range values {
		if len(v) >= minSecretLen {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// minSecretLen is the shortest value scrubbed: shorter ones would blank out
// ordinary words.
const minSecretLen = 3

// PipelineSecrets returns the secret values of a pipeline's connectors and
// transforms, for Levels.AddSecrets.
func PipelineSecrets(p *pipelines.Pipeline) []string {
	var out []string
	for _, c := range p.Connectors() {
		out = append(out, c.Spec().Secrets(c.Raw)...)
		for _, t := range c.Transforms {
			out = append(out, t.Spec().Secrets(t.Raw)...)
		}
	}
	return scrubList(out)
}

// scrub replaces every secret value in s with sdk.Hidden.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, sdk.Hidden)
	}
	return s
}

// settingValue turns a flat value into what the spec expects: Kafka Connect
// sends every value as a string, so a comma list becomes a list.
func settingValue(f *sdk.Field, v any) any {
	v = plain(v)
	if s, ok := v.(string); ok && f != nil && f.Type == sdk.TypeList {
		return list(s)
	}
	return v
}

// plain turns json.Number into int64 or float64, recursively.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	}
	return v
}

// scalar renders a flat value as a string ("" when absent).
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	}
	return fmt.Sprint(plain(v))
}

// list reads a comma list or a JSON array.
func list(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if s := scalar(e); s != "" {
				out = append(out, s)
			}
		}
	case nil:
	default:
		for _, s := range strings.Split(scalar(x), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func intKey(flat map[string]any, k string) (int, error) {
	s := scalar(flat[k])
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, flatError{k, fmt.Sprintf("must be a whole number ≥ 0, not %q", s)}
	}
	return n, nil
}
