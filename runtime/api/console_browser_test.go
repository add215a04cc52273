package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/generator"
	"github.com/braidhq/braid/schema/registry"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath finds the browser the console's tests drive. Without one the
// test fails (scripts/services.sh installs Debian's chromium); only with
// -short may it skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("chromium is not installed (scripts/services.sh installs it): the browser test of the console is skipped with -short")
	}
	t.Fatal("chromium is not installed: run scripts/services.sh (apt-get install chromium); the console's browser test needs it")
	return ""
}

// screenshotDir is data/ui-screenshots at the repository's root.
func screenshotDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "data", "ui-screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unlabelled lists the page's visible controls that have no accessible
// name: no <label>, aria-label, aria-labelledby or (buttons) text.
const unlabelled = `(() => {
  const bad = [];
  for (const el of document.querySelectorAll('button, input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
      (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label') ||
      (el.tagName === 'BUTTON' && el.textContent.trim() !== '');
    if (!named) bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
})()`

// pageProblems collects a page's script errors and CSP violations.
const pageProblems = `window.__problems = [];
window.addEventListener('error', e => window.__problems.push('script error: ' + e.message));
document.addEventListener('securitypolicyviolation', e => window.__problems.push('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`

// linesIn counts the lines of every file below dir.
func linesIn(t *testing.T, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			n++
		}
		return nil
	})
	return n
}

// TestConsoleInBrowser drives the console in headless Chromium: a pipeline
// with a generator, a sink that takes everything and a sink whose transform
// fails every record (so its dead letters pile up); every page loads with
// labelled controls, records arrive in the inspector, the generator is paused
// and resumed from its page, and a dead letter is replayed and reaches the
// other sink. Screenshots go to data/ui-screenshots/.
func TestConsoleInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	// With a token, as beyond loopback: the browser logs in first.
	f := newFixtureWith(t, Options{Token: "console-test-token", SchemaRegistry: engineRegistry{}, HistoryEvery: 250 * time.Millisecond}, generator.Plugin())
	putAvro(t, f, "avro-events")
	out := filepath.Join(f.dir, "out")
	pipeline := fmt.Sprintf(`version: 1
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
`, out, out)
	f.must(http.StatusOK, "PUT", "/pipelines", pipeline, nil)
	eventually(t, "dead letters in picky-dlq", func() bool {
		var td TopicDetail
		code, data := f.do("GET", "/topics/picky-dlq", nil)
		return code == http.StatusOK && json.Unmarshal(data, &td) == nil && len(td.Partitions) > 0 && td.Partitions[0].LastOffset >= 1
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	axeSource, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	axe := string(axeSource)
	// Every page records script errors and Content-Security-Policy
	// violations; a11y fails on any.
	if _, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageProblems}); err != nil {
		t.Fatal(err)
	}
	shots := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("screenshot %s is empty or not a PNG (%v)", path, err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// open loads a page, waits for sel and checks its controls are labelled.
	// a11y checks the page's controls are labelled and runs axe-core.
	a11y := func(path string) {
		t.Helper()
		bad, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](unlabelled))
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Errorf("%s: controls without a label: %s", path, strings.Join(bad, "; "))
		}
		problems, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`window.__problems || []`))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", path, p)
		}
		// axe-core's WCAG 2 A and AA rules (injected through DevTools, so
		// the page's CSP does not apply to it).
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](axe)); err != nil {
			t.Fatalf("inject axe-core: %v", err)
		}
		res, err := chromedp.Run(bctx, chromedp.Evaluate[struct {
			Passes     int
			Violations []string
		}](`axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => ({passes: r.passes.length,
			violations: r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))}))`,
			chromedp.EvalAwaitPromise))
		if err != nil || res.Passes == 0 {
			t.Fatalf("axe-core on %s: %v (%d rules passed)", path, err, res.Passes)
		}
		for _, v := range res.Violations {
			t.Errorf("%s: accessibility: %s", path, v)
		}
	}
	open := func(path, sel string) {
		t.Helper()
		do("open "+path, chromedp.Navigate(f.base+path), chromedp.WaitVisible(chromedp.CSS(sel)),
			chromedp.Poll[chromedp.Void](`window.htmx !== undefined`))
		a11y(path)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	poll := func(what, expr string) {
		t.Helper()
		do(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	}

	// No session yet: the console asks for the token.
	do("log in", chromedp.Navigate(f.base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.Poll[chromedp.Void](`window.htmx !== undefined`))
	do("a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#login-result .error")), chromedp.Evaluate[chromedp.Void](`document.querySelector('#token').value = ''`))
	shot("login")
	do("log in", chromedp.SendKeys(chromedp.CSS("#token"), "console-test-token"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("svg.graph a.node")))
	if src, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil ||
		strings.Contains(src, "console-test-token") {
		t.Fatalf("the page source holds the token (%v)", err)
	}

	// Overview: the graph with rates (the second refresh knows them).
	open("/ui/", "svg.graph a.node")
	poll("rates on the overview", `!document.querySelector('#graph').textContent.includes('…')`)
	if s := text("#summary"); !strings.Contains(s, "3 connector(s): 3 running") {
		t.Errorf("overview summary: %q", s)
	}
	shot("overview")
	do("open a source from the graph", chromedp.Click(chromedp.CSS("svg.graph a.node-source")), chromedp.WaitVisible(chromedp.CSS("#status")))
	if s := text("main h1"); s != "source gen" {
		t.Errorf("the graph's source box opened %q", s)
	}
	open("/ui/", "svg.graph a.node")
	darkMode := []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: darkMode}); err != nil {
		t.Fatal(err)
	}
	shot("overview-dark")
	a11y("/ui/ in dark mode")
	open("/ui/topics", "table tbody tr") // axe-core's contrast rules in dark mode too
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}

	open("/ui/connectors", "table tbody tr")
	shot("connectors")
	open("/ui/topics", "table tbody tr")
	shot("topics")

	// The inspector: records from the start, then following new ones.
	open("/ui/topics/events", "#inspect")
	do("show records", chromedp.Click(chromedp.CSS("#show-records")), chromedp.WaitVisible(chromedp.CSS("#records .record")))
	if s := text("#records .record .value"); !strings.Contains(s, `"id"`) || !strings.Contains(s, `"amount"`) {
		t.Errorf("the inspector's first value: %q", s)
	}
	do("open the hex view", chromedp.Click(chromedp.CSS("#records .record details summary")))
	if s := text("#records .record pre.hex"); !strings.HasPrefix(s, "00000000  7b 22 69 64") {
		t.Errorf("the hex view: %q", s)
	}
	shot("topic-inspector")
	do("follow", chromedp.SetValue(chromedp.CSS("#offset"), "latest"), chromedp.SetValue(chromedp.CSS("#limit"), "5"),
		chromedp.Click(chromedp.CSS("#follow")), chromedp.Click(chromedp.CSS("#show-records")),
		chromedp.WaitVisible(chromedp.CSS("#records .follow")))
	poll("records arriving while following", `document.querySelectorAll('#records .record').length >= 3`)

	// An Avro record, decoded with its registered schema.
	open("/ui/topics/avro-events", "#inspect")
	do("show avro records", chromedp.Click(chromedp.CSS("#show-records")), chromedp.WaitVisible(chromedp.CSS("#records .record")))
	if s := text("#records .record .value"); !strings.Contains(s, "avro · schema avro-events-value version 1") || !strings.Contains(s, `"id": 5`) {
		t.Errorf("the Avro record in the inspector: %q", s)
	}
	shot("topic-avro")
	since := time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05")
	do("browse by time", chromedp.SetValue(chromedp.CSS("#time"), since), chromedp.Click(chromedp.CSS("#show-records")))
	poll("records since a minute ago", `(document.querySelector('#records-summary') || {}).textContent?.includes('3 record(s) from partition 0, offset time')`)

	// Pause the generator from its page (by keyboard), then resume it.
	open("/ui/connectors/gen", "#status")
	do("pause", chromedp.SendKeys(chromedp.CSS("#act-pause"), kb.Enter))
	poll("the paused state", `document.querySelector('#conn-state').textContent === 'PAUSED'`)
	var st ConnectorStatus
	f.must(http.StatusOK, "GET", "/connectors/gen/status", nil, &st)
	if st.Connector.State != "PAUSED" {
		t.Fatalf("after Pause the API says %s", st.Connector.State)
	}
	shot("connector-paused")

	// With the generator paused, the all sink catches up; a replayed dead
	// letter is then one more line in its files.
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
	before := linesIn(t, filepath.Join(out, "all"))
	open("/ui/dlq", "table tbody tr")
	open("/ui/dlq/picky-dlq", "#replay-form")
	do("replay one", chromedp.Click(chromedp.CSS(`#replay-form input[name="offsets"]`)), chromedp.Click(chromedp.CSS("#replay")))
	poll("the replay's outcome", `(document.querySelector('#replay-message') || {}).textContent?.startsWith('Replayed 1 record')`)
	shot("dead-letters")
	eventually(t, "the replayed record in the all sink", func() bool { return linesIn(t, filepath.Join(out, "all")) == before+1 })

	open("/ui/connectors/gen", "#status")
	do("resume", chromedp.Click(chromedp.CSS("#act-resume")))
	poll("the running state", `document.querySelector('#conn-state').textContent === 'RUNNING'`)

	// A sink's chart: throughput and lag from the worker's history.
	open("/ui/connectors/all", "#chart .chart-rate")
	do("the lag line", chromedp.WaitVisible(chromedp.CSS("#chart .chart-lag")))
	shot("connector-chart")

	// A dry run of an edited pipeline shows its diff and changes nothing.
	open("/ui/pipelines", "#yaml")
	edited := strings.Replace(pipeline, "sinks:\n", "sinks:\n  extra:\n    connector: file\n    topics: [events]\n    config: { path: "+out+"/extra, format: jsonl }\n", 1)
	do("dry run", chromedp.SetValue(chromedp.CSS("#yaml"), edited), chromedp.Click(chromedp.CSS("#dry-run")),
		chromedp.WaitVisible(chromedp.CSS("#apply-message")))
	if s := text("#apply-message"); !strings.Contains(s, "Dry run") || !strings.Contains(s, "+ sink extra") {
		t.Errorf("the dry run's answer: %q", s)
	}
	shot("pipelines")
	if code, _ := f.do("GET", "/connectors/extra", nil); code != http.StatusNotFound {
		t.Errorf("a dry run created the connector: %d", code)
	}
	open("/ui/schemas", "main section.record")
	if s := text("main section.record h2"); s != "avro-events-value" {
		t.Errorf("schemas page: subject %q", s)
	}
	shot("schemas")
	// A second version: compare it with the first, check a pasted schema.
	if _, err := f.eng.Schemas.Register(ctx, "avro-events-value", registry.Schema{Schema: `{"type":"record","name":"Event","fields":[` +
		`{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`}, registry.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	open("/ui/schemas/avro-events-value", "#latest-schema")
	do("compare versions", chromedp.SetValue(chromedp.CSS("#from"), "1"), chromedp.SetValue(chromedp.CSS("#to"), "2"),
		chromedp.Click(chromedp.CSS("#compare")), chromedp.WaitVisible(chromedp.CSS("#diff-lines")))
	added, err := chromedp.Run(bctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#diff-lines .diff-add')).map(e => e.textContent).join('\n')`))
	if err != nil || !strings.Contains(added, `"note"`) {
		s := added
		t.Errorf("the diff's added lines: %q", s)
	}
	incompatible := `{"type":"record","name":"Event","fields":[{"name":"id","type":"long"},{"name":"must","type":"int"}]}`
	do("check a schema", chromedp.SetValue(chromedp.CSS("#schema-text"), incompatible), chromedp.Click(chromedp.CSS("#check-schema")),
		chromedp.WaitVisible(chromedp.CSS("#check-message")))
	if s := text("#check-message"); !strings.Contains(s, "Not compatible") {
		t.Errorf("the check of an incompatible schema: %q", s)
	}
	shot("schema-subject")
	do("log out", chromedp.Click(chromedp.CSS("header button")), chromedp.WaitVisible(chromedp.CSS("#token")))
}
