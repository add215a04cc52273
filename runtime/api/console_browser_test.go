package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/generator"
	"github.com/braidhq/braid/schema/registry"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestConsoleInBrowser drives the console in headless Chromium: a pipeline
// with a generator, a sink that takes everything and a sink whose transform
// fails every record (so its dead letters pile up); the browser logs in,
// every page loads with labelled controls and no accessibility violation,
// records arrive in the inspector, the generator is paused and resumed from
// its page, a dead letter is replayed and reaches the other sink, schemas
// are compared and checked and an edited pipeline is dry-run. Screenshots go
// to data/ui-screenshots/.
func TestConsoleInBrowser(t *testing.T) {
	chromiumPath(t) // fail (or skip under -short) before starting anything
	f, out, pipeline := consoleFixture(t, "console-test-token")
	b := newBrowser(t, f)
	b.login("console-test-token")
	b.overview()
	b.inspector()
	b.pauseReplayResume(filepath.Join(out, "all"))
	b.open("/ui/connectors/all", "#chart .chart-rate") // throughput and lag from the worker's history
	b.do("the lag line", chromedp.WaitVisible(chromedp.CSS("#chart .chart-lag")))
	b.shot("connector-chart")
	b.dryRun(pipeline, out)
	b.schemas()
	b.do("log out", chromedp.Click(chromedp.CSS("header button")), chromedp.WaitVisible(chromedp.CSS("#token")))
}

// consoleFixture starts a worker and API with a token, as beyond loopback
// (the browser logs in first), a registered Avro topic and consolePipeline
// writing below out, and waits for its first dead letters.
func consoleFixture(t *testing.T, token string) (f *fixture, out, pipeline string) {
	f = newFixtureWith(t, Options{Token: token, SchemaRegistry: engineRegistry{}, HistoryEvery: 250 * time.Millisecond}, generator.Plugin())
	putAvro(t, f, "avro-events")
	out = filepath.Join(f.dir, "out")
	pipeline = fmt.Sprintf(consolePipeline, out, out)
	f.must(http.StatusOK, "PUT", "/pipelines", pipeline, nil)
	eventually(t, "dead letters in picky-dlq", func() bool {
		var td TopicDetail
		code, data := f.do("GET", "/topics/picky-dlq", nil)
		return code == http.StatusOK && json.Unmarshal(data, &td) == nil && len(td.Partitions) > 0 && td.Partitions[0].LastOffset >= 1
	})
	return f, out, pipeline
}

// caughtUp waits until the all sink has read every record of events.
func caughtUp(t *testing.T, f *fixture) {
	eventually(t, "the all sink to catch up", func() bool {
		var td TopicDetail
		f.must(http.StatusOK, "GET", "/topics/events", nil, &td)
		for _, g := range td.Groups {
			if g.Group == "braid-demo-all" {
				return g.TotalLag == 0
			}
		}
		return false
	})
}

// consolePipeline is the browser test's pipeline; %s is the output folder.
const consolePipeline = `version: 1
name: demo
topics:
  events: { partitions: 2 }
sources:
  gen:
    connector: generator
    topic: events
    config:
      rate: 20
      template: '{"id":{{.N}},"user":"{{name}}","amount":{{randInt 1 500}}}'
sinks:
  all:
    connector: file
    topics: [events]
    config: { path: %s/all, format: jsonl }
  picky:
    connector: file
    topics: [events]
    errors: { tolerance: all, retries: 0 }
    transforms:
      - extract_field: { field: missing }
    config: { path: %s/picky, format: jsonl }
`

// login tries a wrong token, then logs in with token; the page source never
// holds it.
func (b *browser) login(token string) {
	t := b.t
	b.do("log in", chromedp.Navigate(b.f.base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.Poll[chromedp.Void](`window.htmx !== undefined`))
	b.do("a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#login-result .error")), chromedp.Evaluate[chromedp.Void](`document.querySelector('#token').value = ''`))
	b.shot("login")
	b.do("log in", chromedp.SendKeys(chromedp.CSS("#token"), token+kb.Enter), chromedp.WaitVisible(chromedp.CSS("svg.graph a.node")))
	if src, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil || strings.Contains(src, token) {
		t.Fatalf("the page source holds the token (%v)", err)
	}
}

// overview checks the graph (rates, a click-through), light and dark, and
// the list pages.
func (b *browser) overview() {
	t := b.t
	b.open("/ui/", "svg.graph a.node")
	b.poll("rates on the overview", `!document.querySelector('#graph').textContent.includes('…')`) // the second refresh knows them
	if s := b.text("#summary"); !strings.Contains(s, "3 connector(s): 3 running") {
		t.Errorf("overview summary: %q", s)
	}
	b.shot("overview")
	b.do("open a source from the graph", chromedp.Click(chromedp.CSS("svg.graph a.node-source")), chromedp.WaitVisible(chromedp.CSS("#status")))
	if s := b.text("main h1"); s != "source gen" {
		t.Errorf("the graph's source box opened %q", s)
	}
	b.open("/ui/", "svg.graph a.node")
	b.darkMode(true)
	b.shot("overview-dark")
	b.a11y("/ui/ in dark mode")
	b.open("/ui/topics", "table tbody tr") // axe-core's contrast rules in dark mode too
	b.darkMode(false)
	b.open("/ui/connectors", "table tbody tr")
	b.shot("connectors")
	b.open("/ui/topics", "table tbody tr")
	b.shot("topics")
}

// inspector reads JSON records (with their hex), follows new ones, and
// reads an Avro record decoded with its schema, by offset and by time.
func (b *browser) inspector() {
	t := b.t
	b.open("/ui/topics/events", "#inspect")
	b.do("show records", chromedp.Click(chromedp.CSS("#show-records")), chromedp.WaitVisible(chromedp.CSS("#records .record")))
	if s := b.text("#records .record .value"); !strings.Contains(s, `"id"`) || !strings.Contains(s, `"amount"`) {
		t.Errorf("the inspector's first value: %q", s)
	}
	b.do("open the hex view", chromedp.Click(chromedp.CSS("#records .record details summary")))
	if s := b.text("#records .record pre.hex"); !strings.HasPrefix(s, "00000000  7b 22 69 64") {
		t.Errorf("the hex view: %q", s)
	}
	b.shot("topic-inspector")
	b.do("follow", chromedp.SetValue(chromedp.CSS("#offset"), "latest"), chromedp.SetValue(chromedp.CSS("#limit"), "5"),
		chromedp.Click(chromedp.CSS("#follow")), chromedp.Click(chromedp.CSS("#show-records")),
		chromedp.WaitVisible(chromedp.CSS("#records .follow")))
	b.poll("records arriving while following", `document.querySelectorAll('#records .record').length >= 3`)

	b.open("/ui/topics/avro-events", "#inspect")
	b.do("show avro records", chromedp.Click(chromedp.CSS("#show-records")), chromedp.WaitVisible(chromedp.CSS("#records .record")))
	if s := b.text("#records .record .value"); !strings.Contains(s, "avro · schema avro-events-value version 1") || !strings.Contains(s, `"id": 5`) {
		t.Errorf("the Avro record in the inspector: %q", s)
	}
	b.shot("topic-avro")
	// A datetime-local input drops ":00" seconds from its value, which
	// SetValue then reads back as a failure: keep the seconds nonzero.
	t0 := time.Now().Add(-time.Minute).UTC()
	if t0.Second() == 0 {
		t0 = t0.Add(-time.Second)
	}
	since := t0.Format("2006-01-02T15:04:05")
	b.do("browse by time", chromedp.SetValue(chromedp.CSS("#time"), since), chromedp.Click(chromedp.CSS("#show-records")))
	b.poll("records since a minute ago", `(document.querySelector('#records-summary') || {}).textContent?.includes('3 record(s) from partition 0, offset time')`)
}

// pauseReplayResume pauses the generator from its page (by keyboard); once
// the all sink caught up, a replayed dead letter is one more line in its
// files (allDir); then the generator resumes.
func (b *browser) pauseReplayResume(allDir string) {
	t, f := b.t, b.f
	b.open("/ui/connectors/gen", "#status")
	b.do("pause", chromedp.SendKeys(chromedp.CSS("#act-pause"), kb.Enter))
	b.poll("the paused state", `document.querySelector('#conn-state').textContent === 'PAUSED'`)
	var st ConnectorStatus
	f.must(http.StatusOK, "GET", "/connectors/gen/status", nil, &st)
	if st.Connector.State != "PAUSED" {
		t.Fatalf("after Pause the API says %s", st.Connector.State)
	}
	b.shot("connector-paused")
	caughtUp(t, f)
	before := linesIn(t, allDir)
	b.open("/ui/dlq", "table tbody tr")
	b.open("/ui/dlq/picky-dlq", "#replay-form")
	b.do("replay one", chromedp.Click(chromedp.CSS(`#replay-form input[name="offsets"]`)), chromedp.Click(chromedp.CSS("#replay")))
	b.poll("the replay's outcome", `(document.querySelector('#replay-message') || {}).textContent?.startsWith('Replayed 1 record')`)
	b.shot("dead-letters")
	eventually(t, "the replayed record in the all sink", func() bool { return linesIn(t, allDir) == before+1 })

	b.open("/ui/connectors/gen", "#status")
	b.do("resume", chromedp.Click(chromedp.CSS("#act-resume")))
	b.poll("the running state", `document.querySelector('#conn-state').textContent === 'RUNNING'`)
}

// dryRun shows the diff of an edited pipeline, which changes nothing.
func (b *browser) dryRun(pipeline, out string) {
	t := b.t
	b.open("/ui/pipelines", "#yaml")
	edited := strings.Replace(pipeline, "sinks:\n", "sinks:\n  extra:\n    connector: file\n    topics: [events]\n    config: { path: "+out+"/extra, format: jsonl }\n", 1)
	b.do("dry run", chromedp.SetValue(chromedp.CSS("#yaml"), edited), chromedp.Click(chromedp.CSS("#dry-run")),
		chromedp.WaitVisible(chromedp.CSS("#apply-message")))
	if s := b.text("#apply-message"); !strings.Contains(s, "Dry run") || !strings.Contains(s, "+ sink extra") {
		t.Errorf("the dry run's answer: %q", s)
	}
	b.shot("pipelines")
	if code, _ := b.f.do("GET", "/connectors/extra", nil); code != http.StatusNotFound {
		t.Errorf("a dry run created the connector: %d", code)
	}
}

// schemas lists the subject, then compares two versions and checks a
// pasted schema.
func (b *browser) schemas() {
	t := b.t
	b.open("/ui/schemas", "main section.record")
	if s := b.text("main section.record h2"); s != "avro-events-value" {
		t.Errorf("schemas page: subject %q", s)
	}
	b.shot("schemas")
	if _, err := b.f.eng.Schemas.Register(context.Background(), "avro-events-value", registry.Schema{Schema: `{"type":"record","name":"Event","fields":[` +
		`{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`}, registry.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	b.open("/ui/schemas/avro-events-value", "#latest-schema")
	b.do("compare versions", chromedp.SetValue(chromedp.CSS("#from"), "1"), chromedp.SetValue(chromedp.CSS("#to"), "2"),
		chromedp.Click(chromedp.CSS("#compare")), chromedp.WaitVisible(chromedp.CSS("#diff-lines")))
	added, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#diff-lines .diff-add')).map(e => e.textContent).join('\n')`))
	if err != nil || !strings.Contains(added, `"note"`) {
		t.Errorf("the diff's added lines: %q (%v)", added, err)
	}
	incompatible := `{"type":"record","name":"Event","fields":[{"name":"id","type":"long"},{"name":"must","type":"int"}]}`
	b.do("check a schema", chromedp.SetValue(chromedp.CSS("#schema-text"), incompatible), chromedp.Click(chromedp.CSS("#check-schema")),
		chromedp.WaitVisible(chromedp.CSS("#check-message")))
	if s := b.text("#check-message"); !strings.Contains(s, "Not compatible") {
		t.Errorf("the check of an incompatible schema: %q", s)
	}
	b.shot("schema-subject")
}
