package sdk

import "fmt"

// The worker's own settings of every connector, beside the connector's
// config. Pipeline files nest the errors.* settings in an errors: block.
const (
	SettingTasks           = "tasks"
	SettingGroup           = "group"
	SettingStart           = "start"
	SettingBatchSize       = "batch.size"
	SettingConverter       = "converter"
	SettingTolerance       = "errors.tolerance"
	SettingDeadLetterTopic = "errors.dead_letter_topic"
	SettingRetries         = "errors.retries"
	SettingRetryBackoff    = "errors.retry_backoff"
	SettingRetryMaxBackoff = "errors.retry_max_backoff"
)

// Limits and defaults of the worker's settings that other code needs by
// value (the rest are the spec's defaults).
const (
	MaxTasks         = 256
	MaxBatchSize     = 1 << 16 // a sink buffers at most 64 Ki records
	DefaultConverter = "json"
)

// WorkerSpec declares the settings the worker itself reads for a connector
// of spec s: tasks, group, start, batch.size, converter and the error
// policy. It is the one definition of their types, bounds and defaults:
// the pipeline compiler, the REST API and the worker all validate against
// it, so a setting cannot be accepted by one and refused by another.
// A spec without a name (an unknown connector type) gives the settings of
// its kind.
func (s Spec) WorkerSpec() Spec {
	maxTasks := MaxTasks
	if s.MaxTasks > 0 {
		maxTasks = min(s.MaxTasks, MaxTasks)
	}
	fields := []Field{
		{Name: SettingTasks, Type: TypeInt, Default: 1, Min: 1, Max: maxTasks,
			Doc: "Parallel tasks. A sink's partitions are shared among its tasks."},
		{Name: SettingBatchSize, Type: TypeInt, Default: 4096, Min: 1, Max: MaxBatchSize,
			Doc: "Sinks: most records read from the log for one write. Sources do not use it yet: their reads are coalesced into batches of up to 32 Ki records or 2 MiB."},
		{Name: SettingConverter, Type: TypeString,
			Doc: "Sources: how records are encoded into the topic. Sinks: how they are decoded. Default: the topic's converter, else `" + DefaultConverter + "`."},
	}
	if s.Kind == KindSink {
		fields = append(fields,
			Field{Name: SettingGroup, Type: TypeString, Check: checkName,
				Doc: "Consumer group whose committed offsets the sink resumes from. Default `braid-<pipeline>-<connector>` (`braid-default-<connector>` for connectors made over the REST API)."},
			Field{Name: SettingStart, Type: TypeString, Default: "earliest", Enum: []string{"earliest", "latest"},
				Doc: "Where a group with no committed offsets starts."})
	}
	fields = append(fields,
		Field{Name: SettingTolerance, Type: TypeString, Default: "none", Enum: []string{"none", "all"},
			Doc: "`none`: after the retries, the task fails (and restarts with backoff). `all`: after the retries the record goes to the dead-letter topic and the task goes on."},
		Field{Name: SettingDeadLetterTopic, Type: TypeString,
			Doc: "Topic that receives failed records, with headers naming the stage (`source`: input the source could not parse; `convert`, `transform`, `write`), connector, original topic/partition/offset (or a source's position) and the error. Needs `errors.tolerance: all`. Default with `all`: `<connector>-dlq`."},
		Field{Name: SettingRetries, Type: TypeInt, Default: 5, Min: 0, Max: 1_000_000,
			Doc: "Attempts after the first."},
		Field{Name: SettingRetryBackoff, Type: TypeDuration, Default: "1s", Min: "0s",
			Doc: "First wait; doubles on each retry…"},
		Field{Name: SettingRetryMaxBackoff, Type: TypeDuration, Default: "30s", Min: "0s",
			Doc: "…up to this. Must not be less than `errors.retry_backoff`."},
	)
	name := "worker"
	if s.Name != "" {
		name = s.Name
	}
	return Spec{Name: name, Kind: s.Kind, Summary: "The worker's settings of a connector.", Fields: fields, Check: checkWorkerSettings}
}

func checkName(v any) error {
	if s := v.(string); !ValidName(s) {
		return fmt.Errorf("%s must be %s", ShowName(s), NameRule)
	}
	return nil
}

// checkWorkerSettings holds the rules across the worker's settings.
func checkWorkerSettings(cfg Config) []FieldError {
	var errs []FieldError
	if cfg.String(SettingDeadLetterTopic) != "" && cfg.String(SettingTolerance) == "none" {
		errs = append(errs, FieldError{Field: SettingDeadLetterTopic,
			Message: "unused with tolerance: none, which stops at the first bad record; set tolerance: all"})
	}
	first, most := cfg.Duration(SettingRetryBackoff), cfg.Duration(SettingRetryMaxBackoff)
	if most < first {
		errs = append(errs, FieldError{Field: SettingRetryMaxBackoff,
			Message: fmt.Sprintf("%s is less than retry_backoff %s", most, first)})
	}
	return errs
}

// DefaultGroup is a sink's consumer group unless it sets one.
func DefaultGroup(pipeline, connector string) string {
	return "braid-" + pipeline + "-" + connector
}
