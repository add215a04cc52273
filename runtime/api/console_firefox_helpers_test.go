package api

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// firefoxPath finds Debian's firefox-esr (scripts/services.sh installs it).
// Without one the test fails; only with -short may it skip.
func firefoxPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("firefox is not installed (scripts/services.sh installs firefox-esr): the Firefox test of the console is skipped with -short")
	}
	t.Fatal("firefox is not installed: run scripts/services.sh (apt-get install firefox-esr); the console's Firefox test needs it")
	return ""
}

// firefoxPrefs keep a test's Firefox on loopback: every request that is
// not to 127.0.0.1 goes to a proxy on a closed loopback port, and the
// services that would phone home at start are off.
const firefoxPrefs = `user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", 9);
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", 9);
user_pref("network.proxy.socks_remote_dns", true);
user_pref("network.proxy.no_proxies_on", "127.0.0.1");
user_pref("network.proxy.allow_hijacking_localhost", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:9/v1");
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.region.network.url", "");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.newtabpage.enabled", false);
user_pref("layout.css.prefers-color-scheme.content-override", 1);
`

// bidi is a WebDriver BiDi session with one headless Firefox: commands go
// over the websocket Firefox serves with --remote-debugging-port, answers
// come back by id (events are not asked for, so none arrive).
type bidi struct {
	t    *testing.T
	ctx  context.Context
	conn *websocket.Conn
	top  string // the top-level browsing context

	mu      sync.Mutex
	next    int
	pending map[int]chan bidiAnswer
	broken  error
}

type bidiAnswer struct {
	Type    string          `json:"type"`
	ID      int             `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

var bidiListening = regexp.MustCompile(`WebDriver BiDi listening on (ws://127\.0\.0\.1:\d+)`)

// newFirefox starts Firefox with a fresh profile and opens a session; both
// end with the test.
func newFirefox(t *testing.T) *bidi {
	t.Helper()
	exe := firefoxPath(t)
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.Command(exe, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", "0", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	// Its own process group: the content processes go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	url := make(chan string, 1)
	var tail []string
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := bidiListening.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
			tailMu.Lock()
			if tail = append(tail, sc.Text()); len(tail) > 20 {
				tail = tail[1:]
			}
			tailMu.Unlock()
		}
	}()
	var ws string
	select {
	case ws = <-url:
	case <-time.After(60 * time.Second):
		tailMu.Lock()
		defer tailMu.Unlock()
		t.Fatalf("firefox did not say where WebDriver BiDi listens within 60s; its last lines:\n%s", strings.Join(tail, "\n"))
	}
	conn, _, err := websocket.Dial(ctx, ws+"/session", nil)
	if err != nil {
		t.Fatalf("connect to firefox's WebDriver BiDi at %s: %v", ws, err)
	}
	conn.SetReadLimit(64 << 20) // full-page screenshots
	t.Cleanup(func() { _ = conn.CloseNow() })
	b := &bidi{t: t, ctx: ctx, conn: conn, pending: map[int]chan bidiAnswer{}}
	go b.read()
	b.call("session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	b.call("browsingContext.getTree", map[string]any{"maxDepth": 0}, &tree)
	if len(tree.Contexts) == 0 {
		t.Fatal("firefox has no browsing context")
	}
	b.top = tree.Contexts[0].Context
	b.call("browsingContext.setViewport", map[string]any{"context": b.top, "viewport": map[string]int{"width": 1280, "height": 900}}, nil)
	return b
}

// read hands each answer to the command waiting for it.
func (b *bidi) read() {
	for {
		_, data, err := b.conn.Read(b.ctx)
		if err != nil {
			b.mu.Lock()
			b.broken = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var a bidiAnswer
		if json.Unmarshal(data, &a) != nil || a.Type == "event" {
			continue
		}
		b.mu.Lock()
		ch := b.pending[a.ID]
		delete(b.pending, a.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	}
}

// send runs one command and decodes its result into out (when not nil).
func (b *bidi) send(method string, params, out any) error {
	b.mu.Lock()
	if b.broken != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: the session is gone: %w", method, b.broken)
	}
	b.next++
	id := b.next
	ch := make(chan bidiAnswer, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := b.conn.Write(b.ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: the session ended", method)
		}
		if a.Type == "error" {
			return fmt.Errorf("%s: %s: %s", method, a.Error, a.Message)
		}
		if out != nil {
			return json.Unmarshal(a.Result, out)
		}
		return nil
	case <-b.ctx.Done():
		return fmt.Errorf("%s: %w", method, b.ctx.Err())
	}
}

func (b *bidi) call(method string, params, out any) {
	b.t.Helper()
	if err := b.send(method, params, out); err != nil {
		b.t.Fatal(err)
	}
}

// eval runs a JavaScript expression in the page (awaiting a promise) and
// decodes its JSON into out.
func (b *bidi) eval(expr string, out any) error {
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		Exception struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := b.send("script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (" + expr + ")) ?? 'null')()",
		"target":       map[string]string{"context": b.top},
		"awaitPromise": true,
	}, &res)
	if err != nil {
		return err
	}
	if res.Type == "exception" {
		return fmt.Errorf("script: %s", res.Exception.Text)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(res.Result.Value), out)
}

func (b *bidi) must(expr string, out any) {
	b.t.Helper()
	if err := b.eval(expr, out); err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
}

// poll waits until expr is true, for up to 20 seconds.
func (b *bidi) poll(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		var ok bool
		if last = b.eval(expr, &ok); last == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("firefox: %s: not within 20s (%s; last error %v)", what, expr, last)
}

// visible waits until the page shows an element matching sel.
func (b *bidi) visible(sel string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	b.poll("wait for "+sel, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.getClientRects().length > 0; })()`, q))
}

func (b *bidi) text(sel string) string {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	var s string
	b.must(fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ''`, q), &s)
	return s
}

// navigate loads url and waits for the document to complete.
func (b *bidi) navigate(url string) {
	b.t.Helper()
	b.call("browsingContext.navigate", map[string]any{"context": b.top, "url": url, "wait": "complete"}, nil)
}

// click clicks sel with the mouse, at its centre, as a person would.
func (b *bidi) click(sel string) {
	b.t.Helper()
	b.visible(sel)
	q, _ := json.Marshal(sel)
	var at struct{ X, Y int }
	b.must(fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.scrollIntoView({block: 'center'});
  const r = e.getBoundingClientRect(); return {x: Math.round(r.x + r.width / 2), y: Math.round(r.y + r.height / 2)}; })()`, q), &at)
	b.call("input.performActions", map[string]any{"context": b.top, "actions": []any{map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]string{"pointerType": "mouse"},
		"actions": []any{
			map[string]any{"type": "pointerMove", "x": at.X, "y": at.Y},
			map[string]any{"type": "pointerDown", "button": 0},
			map[string]any{"type": "pointerUp", "button": 0},
		}}}}, nil)
}

// WebDriver's codes for the Enter and Tab keys.
const (
	keyEnter = "\uE007"
	keyTab   = "\uE004"
)

// typeInto focuses sel and types keys (each rune a key press).
func (b *bidi) typeInto(sel, keys string) {
	b.t.Helper()
	b.visible(sel)
	q, _ := json.Marshal(sel)
	b.must(fmt.Sprintf(`document.querySelector(%s).focus()`, q), nil)
	var acts []any
	for _, r := range keys {
		acts = append(acts, map[string]any{"type": "keyDown", "value": string(r)}, map[string]any{"type": "keyUp", "value": string(r)})
	}
	b.call("input.performActions", map[string]any{"context": b.top, "actions": []any{map[string]any{
		"type": "key", "id": "keyboard", "actions": acts}}}, nil)
}

// press sends one key press (a WebDriver key value, e.g. keyEnter or keyTab).
func (b *bidi) press(key string) {
	b.t.Helper()
	b.call("input.performActions", map[string]any{"context": b.top, "actions": []any{map[string]any{
		"type": "key", "id": "keyboard", "actions": []any{map[string]any{"type": "keyDown", "value": key}, map[string]any{"type": "keyUp", "value": key}}}}}, nil)
}

// tabTo presses Tab from the top of the page until the element with id has
// the focus, and fails when 60 presses do not get there.
func (b *bidi) tabTo(id string) {
	b.t.Helper()
	b.must(`document.activeElement && document.activeElement.blur()`, nil)
	for i := 0; i < 60; i++ {
		var at string
		b.must(`document.activeElement ? document.activeElement.id : ''`, &at)
		if at == id {
			return
		}
		b.press(keyTab)
	}
	b.t.Fatalf("firefox: 60 presses of Tab never reached #%s", id)
}

// shot writes data/ui-screenshots/<name>.png of the whole page and fails
// on an empty one.
func (b *bidi) shot(dir, name string) {
	b.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	b.call("browsingContext.captureScreenshot", map[string]any{"context": b.top, "origin": "document"}, &res)
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil || len(png) < 1000 || !strings.HasPrefix(string(png), "\x89PNG") {
		b.t.Fatalf("screenshot %s is empty or not a PNG (%d bytes, %v)", name, len(png), err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
