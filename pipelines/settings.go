package pipelines

import (
	"errors"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// errorsPrefix names the worker settings a file nests in errors:.
const errorsPrefix = "errors."

// settings compiles the worker's own settings of a connector (tasks, group,
// start, batch.size, converter and the errors: block) against their one
// spec, sdk.Spec.WorkerSpec, which the REST API and the worker also use:
// the same types, bounds, defaults and rules across settings everywhere.
func (c *compiler) settings(n, key *node, path string, spec sdk.Spec, conn *Connector) {
	ws := spec.WorkerSpec()
	raw, at := map[string]any{}, map[string]*node{}
	set := func(name string, v *node, val any) { raw[name], at[name] = val, v }
	for _, f := range ws.Fields {
		if v := n.get(f.Name); given(v) && !strings.HasPrefix(f.Name, errorsPrefix) && f.Name != sdk.SettingConverter {
			set(f.Name, v, value(v))
		}
	}
	if cs, ok := c.converter(n.get("converter"), path+".converter"); ok {
		conn.Converter = cs
		set(sdk.SettingConverter, n.get("converter"), cs.Type)
	}
	en := n.get("errors")
	if c.isMap(en, path+".errors") {
		var keys []string
		for _, f := range ws.Fields {
			if k, ok := strings.CutPrefix(f.Name, errorsPrefix); ok {
				keys = append(keys, k)
			}
		}
		c.checkKeys(en, path+".errors", keys)
		for _, k := range keys {
			if v := en.get(k); given(v) {
				set(errorsPrefix+k, v, value(v))
			}
		}
	}
	cfg, err := ws.Validate(raw)
	var ce *sdk.ConfigError
	if errors.As(err, &ce) {
		for _, fe := range ce.Errors {
			where := at[fe.Field]
			switch {
			case where != nil:
			case strings.HasPrefix(fe.Field, errorsPrefix) && given(en):
				where = n.keyNode("errors")
			default:
				where = key
			}
			c.lint(where, "%s.%s: %s", path, fe.Field, fe.Message)
		}
	}
	conn.Tasks = int(cfg.Int(sdk.SettingTasks))
	conn.BatchSize = int(cfg.Int(sdk.SettingBatchSize))
	if conn.Kind == sdk.KindSink {
		conn.Group = cfg.String(sdk.SettingGroup)
		if conn.Group == "" {
			conn.Group = sdk.DefaultGroup(c.pl.Name, conn.Name)
		}
		conn.Start = cfg.String(sdk.SettingStart)
	}
	conn.Errors = ErrorPolicy{
		Tolerance:       cfg.String(sdk.SettingTolerance),
		Retries:         int(cfg.Int(sdk.SettingRetries)),
		RetryBackoff:    cfg.Duration(sdk.SettingRetryBackoff),
		RetryMaxBackoff: cfg.Duration(sdk.SettingRetryMaxBackoff),
	}
	c.deadLetterTopic(en.get("dead_letter_topic"), path+".errors.dead_letter_topic", conn)
}

// deadLetterTopic checks what only the file knows: the dead-letter topic
// is declared, and is not one of the connector's own.
func (c *compiler) deadLetterTopic(dn *node, path string, conn *Connector) {
	dlq, ok := c.topicRef(dn, path)
	if !ok {
		return
	}
	conn.Errors.DeadLetterTopic = dlq
	if dlq == conn.Topic || contains(conn.Topics, dlq) {
		c.lint(dn, "%s: %q is the connector's own topic; failed records would loop", path, dlq)
	}
}
