package pipelines_test

import (
	"strings"
	"testing"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/pipelines"
)

func noEnv(string) (string, bool) { return "", false }

// Rules across a connector's settings (the spec's Check) and across the
// worker's settings are lint errors at the connector's position, not a task
// that fails after the file was accepted (issue 18, item 11).
func TestLintCrossFieldErrors(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
name: shop
topics:
  orders:
  dlq:
sources:
  db:
    connector: jdbc-source
    topic: orders
    config: { dsn: "app@tcp(127.0.0.1:3306)/test", tables: [orders], query: "SELECT 1" }
  feed:
    connector: http-poll
    topic: orders
    config:
      url: http://127.0.0.1:9/
      pagination: cursor
sinks:
  trail:
    connector: audit
    topics: [orders]
    tasks: 2
    config: { path: ./audit }
  lake:
    connector: file
    topics: [orders]
    batch.size: 0
    errors: { dead_letter_topic: dlq }
    config: { path: ./out }
`
	_, lints := pipelines.Parse("shop.yaml", []byte(yaml), pipelines.NewCatalog(builtin.Plugins(), nil, nil), noEnv)
	var got []string
	for _, l := range lints {
		got = append(got, l.String())
	}
	want := []string{
		"shop.yaml:10:60: sources.db.config.tables: set exactly one of tables, table.pattern and query",
		"shop.yaml:14:5: sources.feed.config.cursor_path: required with pagination: cursor",
		"shop.yaml:21:12: sinks.trail.tasks: must be 1, not 2",
		"shop.yaml:26:17: sinks.lake.batch.size: must be between 1 and 65536, not 0",
		"shop.yaml:27:34: sinks.lake.errors.dead_letter_topic: unused with tolerance: none, which stops at the first bad record; set tolerance: all",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lints:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// batch.size is a worker setting in pipeline files as it is over REST.
func TestBatchSizeInPipeline(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
topics: { lines: }
sources:
  in: { connector: file, topic: lines, batch.size: 250, config: { path: ./in, batch.size: 10 } }
sinks:
  out: { connector: file, topics: [lines], config: { path: ./out } }
`
	p, lints := pipelines.Parse("b.yaml", []byte(yaml), pipelines.NewCatalog(builtin.Plugins(), nil, nil), noEnv)
	if len(lints) > 0 {
		t.Fatal(lints)
	}
	in, out := p.Connector("in"), p.Connector("out")
	if in.BatchSize != 250 || in.Config.Int("batch.size") != 10 || out.BatchSize != 4096 {
		t.Fatalf("batch sizes: in %d (its own %d), out %d", in.BatchSize, in.Config.Int("batch.size"), out.BatchSize)
	}
}
