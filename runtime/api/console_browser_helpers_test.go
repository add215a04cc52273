package api

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
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

// browser is one headless Chromium tab on a fixture's console.
type browser struct {
	t     *testing.T
	f     *fixture
	ctx   context.Context
	axe   string
	shots string
}

// newBrowser starts Chromium; it stops with the test.
func newBrowser(t *testing.T, f *fixture) *browser {
	t.Helper()
	chrome := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()))...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	axe, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, f: f, ctx: bctx, axe: string(axe), shots: screenshotDir(t)}
	// Every page records script errors and Content-Security-Policy
	// violations; a11y fails on any.
	if _, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageProblems}); err != nil {
		t.Fatal(err)
	}
	return b
}

// shot writes data/ui-screenshots/<name>.png and fails on an empty one.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.t.Fatalf("screenshot %s is empty or not a PNG (%v)", path, err)
	}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// a11y checks the page's controls are labelled, that it had no script
// error or CSP violation, and runs axe-core's WCAG 2 A and AA rules
// (injected through DevTools, so the page's CSP does not apply to it).
func (b *browser) a11y(path string) {
	t := b.t
	t.Helper()
	bad, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](unlabelled))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%s: controls without a label: %s", path, strings.Join(bad, "; "))
	}
	problems, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.__problems || []`))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", path, p)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
		t.Fatalf("inject axe-core: %v", err)
	}
	res, err := chromedp.Run(b.ctx, chromedp.Evaluate[struct {
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

// open loads a console page, waits for sel and runs a11y.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.f.base+path), chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Poll[chromedp.Void](`window.htmx !== undefined`))
	b.a11y(path)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// poll waits until the page's expression holds.
func (b *browser) poll(what, expr string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
}

// darkMode turns prefers-color-scheme: dark on or off.
func (b *browser) darkMode(on bool) {
	b.t.Helper()
	params := emulation.SetEmulatedMediaParams{}
	if on {
		params.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, params); err != nil {
		b.t.Fatal(err)
	}
}
