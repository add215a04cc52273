package worker

import (
	"strconv"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// taskRef names one task cluster-wide. Every piece of state that belongs to
// a task — its source position, producer id (and so its fence chain), lease,
// status and the default consumer group of its connector — is derived here
// and nowhere else, so two connectors of the same name in two pipelines can
// never share state.
type taskRef struct {
	pipeline  string
	connector string
	task      int
}

func (c *connector) ref(task int) taskRef {
	return taskRef{pipeline: pipelineOf(c.cfg.Pipeline), connector: c.cfg.Name, task: task}
}

// pipelineOf names connectors created outside a pipeline file (REST) "default".
func pipelineOf(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

// producer is the id stored with the task's batches; its fence chain in the
// topic is keyed by it.
func (r taskRef) producer() string {
	return r.pipeline + "." + r.connector + "." + strconv.Itoa(r.task)
}

// lease is the task's key in the leases bucket.
func (r taskRef) lease() string {
	return "task/" + r.pipeline + "/" + r.connector + "/" + strconv.Itoa(r.task)
}

// position is the task's key in the positions bucket.
func (r taskRef) position() string {
	return positionPrefix(r.pipeline, r.connector) + strconv.Itoa(r.task)
}

// legacyPosition is where positions were kept before they were keyed by
// pipeline; read once, for connectors outside pipelines, when upgrading.
func (r taskRef) legacyPosition() string {
	return r.connector + "/" + strconv.Itoa(r.task)
}

func positionPrefix(pipeline, connector string) string {
	return pipelineOf(pipeline) + "/" + connector + "/"
}

// status is the task's key in the status bucket (connector names are unique
// in a cluster: the configs bucket is keyed by them).
func (r taskRef) status() string { return statusTaskPrefix(r.connector) + strconv.Itoa(r.task) }

func statusTaskPrefix(connector string) string { return connector + "/task/" }

// parseTaskSuffix reads the task id at the end of key after prefix.
func parseTaskSuffix(key, prefix string) (int, bool) {
	if !strings.HasPrefix(key, prefix) {
		return 0, false
	}
	id, err := strconv.Atoi(key[len(prefix):])
	return id, err == nil && id >= 0
}

// defaultGroup is a sink connector's consumer group unless it sets one.
func defaultGroup(pipeline, connector string) string {
	return sdk.DefaultGroup(pipelineOf(pipeline), connector)
}
