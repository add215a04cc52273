package api

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleInFirefox drives the console in headless Firefox (Debian's
// firefox-esr, over WebDriver BiDi), as TestConsoleInBrowser does in
// Chromium: log in by keyboard, load every page with labelled controls, no
// script error or CSP violation and no axe-core violation, read records in
// the inspector, reach a connector's Pause button with Tab, pause and resume
// it, and replay a dead letter into the other sink. Screenshots go to data/ui-screenshots/firefox-*.
func TestConsoleInFirefox(t *testing.T) {
	firefoxPath(t) // fail (or skip under -short) before starting anything
	f, out, _ := consoleFixture(t, "firefox-test-token")
	axe, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	shots := screenshotDir(t)
	b := newFirefox(t)
	// Every page records script errors and CSP violations.
	b.call("script.addPreloadScript", map[string]any{"functionDeclaration": "() => {" + pageProblems + "}"}, nil)
	check := func(path string) {
		t.Helper()
		var bad, problems []string
		b.must(unlabelled, &bad)
		if len(bad) > 0 {
			t.Errorf("firefox %s: controls without a label: %s", path, strings.Join(bad, "; "))
		}
		b.must(`window.__problems || []`, &problems)
		for _, p := range problems {
			t.Errorf("firefox %s: %s", path, p)
		}
		var injected bool
		if err := b.eval("(() => { "+string(axe)+"\n; return typeof axe === 'object'; })()", &injected); err != nil || !injected {
			t.Fatalf("inject axe-core: %v", err)
		}
		var res struct {
			Passes     int
			Violations []string
		}
		b.must(`axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => ({Passes: r.passes.length,
  Violations: r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))}))`, &res)
		if res.Passes == 0 {
			t.Fatalf("firefox %s: axe-core passed no rule", path)
		}
		for _, v := range res.Violations {
			t.Errorf("firefox %s: accessibility: %s", path, v)
		}
	}
	open := func(path, sel string) {
		t.Helper()
		b.navigate(f.base + path)
		b.visible(sel)
		b.poll("htmx on "+path, `window.htmx !== undefined`)
		check(path)
	}

	// Log in by keyboard: a wrong token first, then the right one.
	b.navigate(f.base + "/ui/")
	b.typeInto("#token", "not-the-token"+keyEnter)
	b.visible("#login-result .error")
	b.must(`document.querySelector('#token').value = ''`, nil)
	b.typeInto("#token", "firefox-test-token"+keyEnter)
	b.visible("svg.graph a.node")
	var src string
	b.must(`document.documentElement.outerHTML`, &src)
	if strings.Contains(src, "firefox-test-token") {
		t.Fatal("the page source holds the token")
	}

	open("/ui/", "svg.graph a.node")
	b.poll("rates on the overview", `!document.querySelector('#graph').textContent.includes('…')`)
	if s := b.text("#summary"); !strings.Contains(s, "3 connector(s): 3 running") {
		t.Errorf("firefox overview summary: %q", s)
	}
	b.shot(shots, "firefox-overview")
	b.click("svg.graph a.node-source")
	b.visible("#status")
	if s := b.text("main h1"); s != "source gen" {
		t.Errorf("firefox: the graph's source box opened %q", s)
	}
	open("/ui/connectors", "table tbody tr")
	open("/ui/topics", "table tbody tr")

	open("/ui/topics/events", "#inspect")
	b.click("#show-records")
	b.visible("#records .record")
	if s := b.text("#records .record .value"); !strings.Contains(s, `"id"`) || !strings.Contains(s, `"amount"`) {
		t.Errorf("firefox: the inspector's first value: %q", s)
	}
	b.shot(shots, "firefox-topic-inspector")
	open("/ui/topics/avro-events", "#inspect")
	b.click("#show-records")
	b.visible("#records .record")
	if s := b.text("#records .record .value"); !strings.Contains(s, "avro · schema avro-events-value version 1") {
		t.Errorf("firefox: the Avro record in the inspector: %q", s)
	}

	// Pause by keyboard; the API agrees; replay a dead letter once the all
	// sink caught up; resume.
	open("/ui/connectors/gen", "#status")
	// The Pause button is reached by keyboard. (Headless Firefox's window
	// never has the focus, document.hasFocus() is false, and then Firefox
	// does not turn Enter on a focused button into a click; the Chromium
	// test presses it with Enter.)
	b.tabTo("act-pause")
	b.click("#act-pause")
	b.poll("the paused state", `document.querySelector('#conn-state').textContent === 'PAUSED'`)
	var st ConnectorStatus
	f.must(http.StatusOK, "GET", "/connectors/gen/status", nil, &st)
	if st.Connector.State != "PAUSED" {
		t.Fatalf("after a pause in Firefox the API says %s", st.Connector.State)
	}
	b.shot(shots, "firefox-connector-paused")
	allDir := filepath.Join(out, "all")
	caughtUp(t, f)
	before := linesIn(t, allDir)
	open("/ui/dlq/picky-dlq", "#replay-form")
	b.click(`#replay-form input[name="offsets"]`)
	b.click("#replay")
	b.poll("the replay's outcome", `(document.querySelector('#replay-message') || {}).textContent?.startsWith('Replayed 1 record')`)
	b.shot(shots, "firefox-dead-letters")
	eventually(t, "the replayed record in the all sink", func() bool { return linesIn(t, allDir) == before+1 })
	open("/ui/connectors/gen", "#status")
	b.click("#act-resume")
	b.poll("the running state", `document.querySelector('#conn-state').textContent === 'RUNNING'`)

	open("/ui/schemas", "main section.record")
	open("/ui/schemas/avro-events-value", "#latest-schema")
	open("/ui/pipelines", "#yaml")
	b.shot(shots, "firefox-pipelines")
}
