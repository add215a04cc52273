package worker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the worker's Prometheus collectors.
type Metrics struct {
	RecordsIn  *prometheus.CounterVec   // records read by a connector
	RecordsOut *prometheus.CounterVec   // records written/published by a connector
	BytesIn    *prometheus.CounterVec   // bytes read
	BytesOut   *prometheus.CounterVec   // bytes written
	Errors     *prometheus.CounterVec   // record and task errors by stage
	DLQ        *prometheus.CounterVec   // records sent to the dead-letter topic
	Latency    *prometheus.HistogramVec // source read → sink write, seconds
	TaskState  *prometheus.GaugeVec     // 1 for the task's current state
	Restarts   *prometheus.CounterVec
	Blocked    *prometheus.GaugeVec // 1 while a task waits on the log, by reason
	Gauges     *prometheus.GaugeVec // connectors' own measurements (sdk.Env.SetGauge)
}

// NewMetrics creates the collectors and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "braid", Name: "connector_records_in_total",
			Help: "Records read by a connector (sources: from the system; sinks: from the log)."}, []string{"connector"}),
		RecordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "braid", Name: "connector_records_out_total",
			Help: "Records written by a connector (sources: to the log; sinks: to the system)."}, []string{"connector"}),
		BytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "braid", Name: "connector_bytes_in_total",
			Help: "Value bytes read by a connector."}, []string{"connector"}),
		BytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "braid", Name: "connector_bytes_out_total",
			Help: "Value bytes written by a connector."}, []string{"connector"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "braid", Name: "connector_errors_total",
			Help: "Errors by connector and stage (read, convert, transform, produce, write, flush, task)."}, []string{"connector", "stage"}),
		DLQ: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "braid", Name: "connector_dlq_records_total",
			Help: "Records sent to the dead-letter topic."}, []string{"connector"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "braid", Name: "end_to_end_latency_seconds",
			Help:    "Time from a record's timestamp (set when the source read it) to its durable write by a sink.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20)}, []string{"connector"}),
		TaskState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "braid", Name: "task_state",
			Help: "1 when the task is in the labelled state."}, []string{"connector", "task", "state"}),
		Restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "braid", Name: "task_restarts_total",
			Help: "Automatic task restarts after a failure."}, []string{"connector"}),
		Blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "braid", Name: "task_blocked",
			Help: "1 while a source task cannot publish and waits, by reason (topic_full, log_unavailable)."}, []string{"connector", "task", "reason"}),
		Gauges: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "braid", Name: "connector_gauge",
			Help: "A connector's own measurements by name, e.g. postgres-cdc's slot_retained_wal_bytes."}, []string{"connector", "task", "name"}),
	}
	if reg != nil {
		reg.MustRegister(m.RecordsIn, m.RecordsOut, m.BytesIn, m.BytesOut, m.Errors, m.DLQ, m.Latency, m.TaskState, m.Restarts, m.Blocked, m.Gauges)
	}
	return m
}
