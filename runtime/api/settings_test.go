package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/jdbc"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

const mariaDSN = "root@tcp(127.0.0.1:3306)/test"

// A rule across a connector's settings (jdbc-source: exactly one of tables,
// table.pattern and query) answers 400 naming the setting, and nothing is
// stored: before, POST /connectors answered 201 and the task failed later
// (issue 18, item 11).
func TestCreateRefusesCrossFieldMistake(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, Options{}, jdbc.SourcePlugin())
	code, body := f.do("POST", "/connectors", map[string]any{"name": "shop", "config": map[string]any{
		"connector": "jdbc-source", "braid.topic": "orders", "dsn": mariaDSN, "tables": "orders", "query": "SELECT 1"}})
	if code != http.StatusBadRequest || !strings.Contains(string(body), "tables: set exactly one of tables, table.pattern and query") {
		t.Fatalf("POST /connectors: %d %s", code, body)
	}
	f.must(http.StatusNotFound, "GET", "/connectors/shop", nil, nil)
	kv, err := f.eng.Log.KV(context.Background(), worker.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(context.Background(), "shop"); !errors.Is(err, log.ErrKeyNotFound) {
		t.Fatalf("stored config: err = %v", err)
	}

	var v Validation
	f.must(http.StatusOK, "PUT", "/connector-plugins/jdbc-source/config/validate",
		map[string]any{"braid.topic": "orders", "dsn": mariaDSN, "tables": "orders", "query": "SELECT 1"}, &v)
	if errs := validationErrors(v); v.ErrorCount != 1 || !strings.Contains(errs["tables"], "set exactly one") {
		t.Fatalf("validate: %d errors: %v", v.ErrorCount, errs)
	}
}

// The worker's settings are checked against their one spec, each mistake
// under its flat key, and an explicit errors.retries 0 stays 0 (it became 5).
func TestWorkerSettingsOverREST(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	var v Validation
	f.must(http.StatusOK, "PUT", "/connector-plugins/file/config/validate?kind=sink", map[string]any{
		"topics": "events", "path": f.dir + "/x", "tasks.max": "0", "braid.batch.size": "100000",
		"errors.tolerance": "none", "errors.deadletterqueue.topic.name": "dlq"}, &v)
	errs := validationErrors(v)
	for key, want := range map[string]string{
		"tasks.max":                         "must be between 1 and 256, not 0",
		"batch.size":                        "must be between 1 and 65536, not 100000",
		"errors.deadletterqueue.topic.name": "unused with tolerance: none",
	} {
		if !strings.Contains(errs[key], want) {
			t.Errorf("%s: %q, want %q (all: %v)", key, errs[key], want, errs)
		}
	}
	cfg := map[string]any{"connector": "file", "kind": "sink", "topics": "events", "path": f.dir + "/y",
		"errors.retries": "0", "errors.retry.backoff": "250"}
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "zero", "config": cfg}, nil)
	var flat map[string]any
	f.must(http.StatusOK, "GET", "/connectors/zero/config", nil, &flat)
	if flat["errors.retries"] != "0" || flat["errors.retry.backoff"] != "250ms" {
		t.Fatalf("config: %v", flat)
	}
}

func validationErrors(v Validation) map[string]string {
	out := map[string]string{}
	for _, c := range v.Configs {
		if len(c.Value.Errors) > 0 {
			out[c.Value.Name] = strings.Join(c.Value.Errors, "; ")
		}
	}
	return out
}
