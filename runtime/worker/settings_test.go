package worker_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/audit"
	"github.com/braidhq/braid/connectors/jdbc"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

// Worker.Put checks rules across a connector's settings and across its own
// settings before it stores or starts anything (issue 18, item 11).
func TestPutRefusesCrossFieldMistakes(t *testing.T) {
	t.Parallel()
	e := start(t, t.TempDir(), jdbc.SourcePlugin(), audit.SinkPlugin())
	ctx := context.Background()
	kv, err := e.log.KV(ctx, worker.BucketConnectors)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  worker.ConnectorConfig
		want string
	}{
		{worker.ConnectorConfig{Name: "shop", Kind: sdk.KindSource, Plugin: "jdbc-source", Topic: "orders",
			Config: map[string]any{"dsn": "root@tcp(127.0.0.1:3306)/test", "tables": []any{"orders"}, "query": "SELECT 1"}},
			"tables: set exactly one of tables, table.pattern and query"},
		{worker.ConnectorConfig{Name: "trail", Kind: sdk.KindSink, Plugin: "audit", Topics: []string{"orders"}, Tasks: 2,
			Config: map[string]any{"path": filepath.Join(e.dir, "audit")}},
			"tasks: must be 1, not 2"},
		{worker.ConnectorConfig{Name: "lines", Kind: sdk.KindSink, Plugin: "file", Topics: []string{"orders"},
			Errors: worker.ErrorPolicy{Tolerance: "some"}, Config: map[string]any{"path": e.dir}},
			`errors.tolerance: must be one of none, all, not "some"`},
	} {
		err := e.w.Put(ctx, c.cfg)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.cfg.Name, err, c.want)
		}
		if _, err := e.w.Config(c.cfg.Name); !errors.Is(err, worker.ErrNotFound) {
			t.Errorf("%s: running after a refused put: %v", c.cfg.Name, err)
		}
		if _, err := kv.Get(ctx, c.cfg.Name); !errors.Is(err, log.ErrKeyNotFound) {
			t.Errorf("%s: stored after a refused put: %v", c.cfg.Name, err)
		}
	}
}

// Defaults come from the one spec of the worker's settings; an explicit 0
// retries stays 0 instead of becoming the default.
func TestPutAppliesSettingDefaults(t *testing.T) {
	t.Parallel()
	e := start(t, t.TempDir())
	ctx := context.Background()
	zero := 0
	if err := e.w.Put(ctx, worker.ConnectorConfig{Name: "out", Kind: sdk.KindSink, Plugin: "file", Topics: []string{"in"},
		Errors: worker.ErrorPolicy{Retries: &zero}, Config: map[string]any{"path": e.dir}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.w.Config("out")
	if err != nil {
		t.Fatal(err)
	}
	if got.Tasks != 1 || got.BatchSize != 4096 || got.Start != "earliest" || got.Group != "braid-default-out" ||
		got.Converter.Type != "json" || got.Errors.Tolerance != worker.ToleranceNone || got.Errors.Retries == nil || *got.Errors.Retries != 0 {
		t.Fatalf("config: %+v (retries %v)", got, got.Errors.Retries)
	}
}
