package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/braidhq/braid/runtime/worker"
)

// pipelineYAML runs a file source into a one-partition topic and a file sink
// out of it.
func pipelineYAML(dir string) string {
	return fmt.Sprintf(`version: 1
name: gold
topics:
  events: { partitions: 1 }
sources:
  src:
    connector: file
    topic: events
    config: { path: %s/in.jsonl, format: jsonl }
sinks:
  out:
    connector: file
    topics: [events]
    config: { path: %s/out, format: jsonl }
`, dir, dir)
}

func (f *fixture) applyGold() {
	f.t.Helper()
	in := `{"id":1,"name":"ada"}` + "\n" + `{"id":2,"name":"bob"}` + "\n" + `{"id":3,"name":"cy"}` + "\n"
	if err := os.WriteFile(filepath.Join(f.dir, "in.jsonl"), []byte(in), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.get("pipelines_put_dry_run", http.StatusOK, "PUT", "/pipelines?dry_run=true", pipelineYAML(f.dir))
	f.get("pipelines_put", http.StatusOK, "PUT", "/pipelines", pipelineYAML(f.dir))
	eventually(f.t, "the sink to catch up", func() bool {
		var d TopicDetail
		f.must(http.StatusOK, "GET", "/topics/events", nil, &d)
		return len(d.Groups) == 1 && d.Groups[0].TotalLag == 0 && d.Partitions[0].LastOffset > 0
	})
}

func TestRoutesGolden(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.get("root", http.StatusOK, "GET", "/", nil)
	f.get("healthz", http.StatusOK, "GET", "/healthz", nil)
	f.get("readyz", http.StatusOK, "GET", "/readyz", nil)
	f.get("pipelines_lint_error", http.StatusBadRequest, "PUT", "/pipelines", "version: 1\nsources:\n  x: { connector: nope, topic: t }\n")
	f.applyGold()

	f.get("pipelines_get", http.StatusOK, "GET", "/pipelines", nil)
	f.get("connectors", http.StatusOK, "GET", "/connectors", nil)
	f.get("connectors_expand_status", http.StatusOK, "GET", "/connectors?expand=status", nil)
	f.get("connectors_expand_info", http.StatusOK, "GET", "/connectors?expand=info&expand=status", nil)
	f.get("connector", http.StatusOK, "GET", "/connectors/src", nil)
	f.get("connector_config", http.StatusOK, "GET", "/connectors/out/config", nil)
	f.get("connector_status", http.StatusOK, "GET", "/connectors/src/status", nil)
	f.get("connector_tasks", http.StatusOK, "GET", "/connectors/out/tasks", nil)
	f.get("task_status", http.StatusOK, "GET", "/connectors/out/tasks/0/status", nil)
	f.get("task_status_404", http.StatusNotFound, "GET", "/connectors/out/tasks/7/status", nil)
	f.get("connector_topics", http.StatusOK, "GET", "/connectors/out/topics", nil)
	f.get("connector_404", http.StatusNotFound, "GET", "/connectors/nope", nil)
	f.get("offsets_sink", http.StatusOK, "GET", "/connectors/out/offsets", nil)
	f.get("offsets_not_stopped", http.StatusBadRequest, "DELETE", "/connectors/out/offsets", nil)

	f.get("topics", http.StatusOK, "GET", "/topics", nil)
	f.get("topic", http.StatusOK, "GET", "/topics/events", nil)
	f.get("topic_404", http.StatusNotFound, "GET", "/topics/nope", nil)
	f.get("records", http.StatusOK, "GET", "/topics/events/records?partition=0&limit=2", nil)
	var page Records
	f.must(http.StatusOK, "GET", "/topics/events/records?partition=0&limit=2", nil, &page)
	f.get("records_next", http.StatusOK, "GET", fmt.Sprintf("/topics/events/records?partition=0&offset=%d", page.NextOffset), nil)

	f.get("plugins", http.StatusOK, "GET", "/connector-plugins", nil)
	f.get("plugin_config", http.StatusOK, "GET", "/connector-plugins/vault/config", nil)
	f.get("plugin_config_ambiguous", http.StatusBadRequest, "GET", "/connector-plugins/file/config", nil)
	f.get("validate", http.StatusOK, "PUT", "/connector-plugins/vault/config/validate",
		map[string]any{"topic": "v", "password": 12, "colour": "red", "tasks.max": "x"})
	f.get("validate_ok", http.StatusOK, "PUT", "/connector-plugins/file/config/validate?kind=sink",
		map[string]any{"topics": "events", "path": f.dir + "/x"})

	f.get("loggers", http.StatusOK, "GET", "/admin/loggers", nil)
	f.get("logger_put", http.StatusOK, "PUT", "/admin/loggers/src", map[string]string{"level": "WARN"})
	f.get("logger_get", http.StatusOK, "GET", "/admin/loggers/src", nil)
	f.get("logger_bad", http.StatusBadRequest, "PUT", "/admin/loggers/src", map[string]string{"level": "LOUD"})
	f.get("no_route", http.StatusNotFound, "GET", "/nope", nil)
}

func TestConnectorLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	cfg := map[string]any{"connector": "file", "kind": "sink", "topics": "life", "path": f.dir + "/out",
		"tasks.max": "1", "errors.tolerance": "all", "batch.size": 10}
	f.must(http.StatusNotFound, "GET", "/topics/life", nil, nil)
	f.get("create", http.StatusCreated, "POST", "/connectors", map[string]any{"name": "life", "config": cfg})
	f.get("create_conflict", http.StatusConflict, "POST", "/connectors", map[string]any{"name": "life", "config": cfg})
	f.get("create_bad", http.StatusBadRequest, "POST", "/connectors",
		map[string]any{"name": "bad", "config": map[string]any{"connector": "file", "kind": "sink", "topics": "life", "format": "xml"}})
	f.get("create_no_type", http.StatusBadRequest, "POST", "/connectors", map[string]any{"name": "bad", "config": map[string]any{}})

	cfg["path"] = f.dir + "/out2"
	f.get("put_config_update", http.StatusOK, "PUT", "/connectors/life/config", cfg)
	f.get("put_config_create", http.StatusCreated, "PUT", "/connectors/life2/config", cfg)
	state := func(name string) worker.State {
		var st worker.ConnectorStatus
		f.must(http.StatusOK, "GET", "/connectors/"+name+"/status", nil, &st)
		return st.Connector.State
	}
	f.must(http.StatusAccepted, "PUT", "/connectors/life/pause", nil, nil)
	eventually(t, "PAUSED", func() bool { return state("life") == worker.StatePaused })
	f.must(http.StatusAccepted, "PUT", "/connectors/life/resume", nil, nil)
	eventually(t, "RUNNING", func() bool { return state("life") == worker.StateRunning })
	f.must(http.StatusNoContent, "POST", "/connectors/life/restart", nil, nil)
	var st worker.ConnectorStatus
	f.must(http.StatusAccepted, "POST", "/connectors/life/restart?includeTasks=true&onlyFailed=false", nil, &st)
	if len(st.Tasks) != 1 {
		t.Fatalf("restart status: %+v", st)
	}
	f.must(http.StatusNoContent, "POST", "/connectors/life/tasks/0/restart", nil, nil)
	f.must(http.StatusBadRequest, "POST", "/connectors/life/restart?onlyFailed=maybe", nil, nil)

	// KIP-875: offsets change only while STOPPED.
	f.must(http.StatusNoContent, "PUT", "/connectors/life/stop", nil, nil)
	eventually(t, "STOPPED", func() bool { return state("life") == worker.StateStopped })
	// The task's lease goes a moment after its state: only then may offsets
	// change (the API says so, and to wait).
	eventually(t, "the task's lease released", func() bool {
		ok, _, err := f.eng.Worker.Stopped(context.Background(), "life")
		return err == nil && ok
	})
	patch := Offsets{Offsets: []Offset{{Partition: map[string]any{"kafka_topic": "life", "kafka_partition": 0},
		Offset: map[string]any{"kafka_offset": 65537}}}}
	f.get("offsets_patch", http.StatusOK, "PATCH", "/connectors/life/offsets", patch)
	f.get("offsets_after_patch", http.StatusOK, "GET", "/connectors/life/offsets", nil)
	f.get("offsets_patch_bad_topic", http.StatusBadRequest, "PATCH", "/connectors/life/offsets",
		Offsets{Offsets: []Offset{{Partition: map[string]any{"kafka_topic": "other", "kafka_partition": 0}, Offset: map[string]any{"kafka_offset": 1}}}})
	f.get("offsets_delete", http.StatusOK, "DELETE", "/connectors/life/offsets", nil)
	f.get("offsets_after_delete", http.StatusOK, "GET", "/connectors/life/offsets", nil)
	f.must(http.StatusAccepted, "PUT", "/connectors/life/resume", nil, nil)
	eventually(t, "RUNNING after stop", func() bool { return state("life") == worker.StateRunning })

	f.must(http.StatusNoContent, "DELETE", "/connectors/life", nil, nil)
	f.must(http.StatusNotFound, "DELETE", "/connectors/life", nil, nil)
	var names []string
	f.must(http.StatusOK, "GET", "/connectors", nil, &names)
	if strings.Join(names, ",") != "life2" {
		t.Fatalf("connectors after delete: %v", names)
	}
}

func TestSourceOffsets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.applyGold()
	_, metrics := f.do("GET", "/metrics", nil)
	for _, want := range []string{
		`braid_log_consumer_lag_records{group="braid-gold-out",partition="0",topic="events"} 0`,
		// Dense offsets: three records, committed through offset 2.
		`braid_log_produced_records_total{partition="0",topic="events"} 3`,
		`braid_log_consumed_records_total{group="braid-gold-out",partition="0",topic="events"} 3`,
		`braid_connector_records_out_total{connector="src"} 3`,
		`braid_log_topic_messages{topic="events"} 2`,
		"go_goroutines ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var got Offsets
	f.must(http.StatusOK, "GET", "/connectors/src/offsets", nil, &got)
	if len(got.Offsets) != 1 || !strings.Contains(fmt.Sprint(got.Offsets[0].Offset["position"]), "in.jsonl") {
		t.Fatalf("source offsets: %+v", got)
	}
	f.must(http.StatusNoContent, "PUT", "/connectors/src/stop", nil, nil)
	patch := Offsets{Offsets: []Offset{{Partition: map[string]any{"connector": "src", "task": 0},
		Offset: map[string]any{"position_base64": "AAEC"}}}}
	f.must(http.StatusOK, "PATCH", "/connectors/src/offsets", patch, nil)
	f.must(http.StatusOK, "GET", "/connectors/src/offsets", nil, &got)
	if len(got.Offsets) != 1 || got.Offsets[0].Offset["position_base64"] != "AAEC" {
		t.Fatalf("source offsets after patch: %+v", got)
	}
	f.must(http.StatusOK, "DELETE", "/connectors/src/offsets", nil, nil)
	f.must(http.StatusOK, "GET", "/connectors/src/offsets", nil, &got)
	if len(got.Offsets) != 0 {
		t.Fatalf("source offsets after reset: %+v", got)
	}
	f.must(http.StatusBadRequest, "PATCH", "/connectors/src/offsets",
		Offsets{Offsets: []Offset{{Partition: map[string]any{"connector": "src", "task": 3}, Offset: map[string]any{"position": "x"}}}}, nil)
}
