package http

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

func openWebhook(t *testing.T, raw map[string]any) *Webhook {
	t.Helper()
	if raw["listen"] == nil {
		raw["listen"] = "127.0.0.1:0"
	}
	cfg, err := webhookSpec().Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWebhook(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Open(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

type response struct {
	status int
	header nethttp.Header
	body   string
	err    error
}

// post sends a request in the background; the answer arrives on the channel.
func post(w *Webhook, body string, hdr map[string]string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, _ := nethttp.NewRequest("POST", "http://"+w.Addr()+"/", strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			ch <- response{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}()
	return ch
}

func await(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no response within 10s")
	}
	return response{}
}

func read(t *testing.T, w *Webhook) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	recs, err := w.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestWebhookAnswersOnlyAfterAck(t *testing.T) {
	t.Parallel()
	w := openWebhook(t, map[string]any{"key_header": "X-Id", "headers": []any{"x-request-id"}})
	ch := post(w, `{"a":1}`, map[string]string{"X-Id": "k1", "X-Request-Id": "r1", "X-Other": "no"})
	recs := read(t, w)
	if len(recs) != 1 || string(recs[0].Value) != `{"a":1}` || string(recs[0].Key) != "k1" {
		t.Fatalf("records = %+v", recs)
	}
	if v, _ := recs[0].Headers.Get("X-Request-Id"); v != "r1" || len(recs[0].Headers) != 1 {
		t.Fatalf("headers = %+v", recs[0].Headers)
	}
	select {
	case r := <-ch:
		t.Fatalf("answered %d before the ack", r.status)
	case <-time.After(50 * time.Millisecond):
	}
	if err := w.Ack(t.Context(), recs[0].Position); err != nil {
		t.Fatal(err)
	}
	if r := await(t, ch); r.status != 200 || !strings.Contains(r.body, `"accepted":1`) {
		t.Fatalf("answer = %d %s", r.status, r.body)
	}
}

func TestWebhookBatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		raw   map[string]any
		body  string
		ctype string
		want  []string
		keys  []string
	}{
		{"array setting", map[string]any{"batch": true, "key_field": "id"}, `[{"id":1},{"id":"b"}]`, "application/json",
			[]string{`{"id":1}`, `{"id":"b"}`}, []string{"1", "b"}},
		{"array by content type", map[string]any{}, `[1, 2 ,3]`, "application/json; batch=true",
			[]string{"1", "2", "3"}, []string{"", "", ""}},
		{"array without batch is one record", map[string]any{}, `[1,2]`, "application/json",
			[]string{"[1,2]"}, []string{""}},
		{"ndjson", map[string]any{"key_field": "k.n"}, "{\"k\":{\"n\":7}}\n\n{\"x\":1}\n", "application/x-ndjson",
			[]string{`{"k":{"n":7}}`, `{"x":1}`}, []string{"7", ""}},
		{"any body", map[string]any{}, "plain text", "text/plain", []string{"plain text"}, []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := openWebhook(t, tc.raw)
			ch := post(w, tc.body, map[string]string{"Content-Type": tc.ctype})
			recs := read(t, w)
			if len(recs) != len(tc.want) {
				t.Fatalf("got %d records, want %d", len(recs), len(tc.want))
			}
			for i, r := range recs {
				if string(r.Value) != tc.want[i] || string(r.Key) != tc.keys[i] {
					t.Errorf("record %d = %q key %q, want %q key %q", i, r.Value, r.Key, tc.want[i], tc.keys[i])
				}
			}
			_ = w.Ack(t.Context(), recs[len(recs)-1].Position)
			if r := await(t, ch); r.status != 200 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
		})
	}
}

func TestWebhookRejects(t *testing.T) {
	t.Parallel()
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(`{"ok":true}`))
	goodSig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	cases := []struct {
		name   string
		raw    map[string]any
		body   string
		hdr    map[string]string
		status int
	}{
		{"no token", map[string]any{"auth_token": "tok"}, `{}`, nil, 401},
		{"wrong token", map[string]any{"auth_token": "tok"}, `{}`, map[string]string{"Authorization": "Bearer nope"}, 401},
		{"bad hmac", map[string]any{"hmac_secret": "s3cret"}, `{"ok":true}`, map[string]string{"X-Signature-256": "sha256=00"}, 401},
		{"hmac of other body", map[string]any{"hmac_secret": "s3cret"}, `{"ok":false}`, map[string]string{"X-Signature-256": goodSig}, 401},
		{"too large", map[string]any{"max_body": 4}, `12345`, nil, 413},
		{"bad array", map[string]any{"batch": true}, `[1,`, nil, 400},
		{"bad ndjson", map[string]any{}, "{}\nnope\n", map[string]string{"Content-Type": "application/x-ndjson"}, 400},
		{"empty", map[string]any{}, ``, nil, 400},
		{"key field of non-json", map[string]any{"key_field": "id"}, `nope`, nil, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := openWebhook(t, tc.raw)
			if r := await(t, post(w, tc.body, tc.hdr)); r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
			if len(w.queue) != 0 {
				t.Fatal("a rejected request reached the queue")
			}
		})
	}
}

func TestWebhookAuthAccepted(t *testing.T) {
	t.Parallel()
	w := openWebhook(t, map[string]any{"auth_token": "tok", "hmac_secret": "s3cret", "hmac_header": "X-Hub-Signature"})
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(`{"ok":true}`))
	ch := post(w, `{"ok":true}`, map[string]string{"Authorization": "Bearer tok", "X-Hub-Signature": hex.EncodeToString(mac.Sum(nil))})
	recs := read(t, w)
	_ = w.Ack(t.Context(), recs[0].Position)
	if r := await(t, ch); r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
}

func TestWebhookBackpressure(t *testing.T) {
	t.Parallel()
	w := openWebhook(t, map[string]any{"queue_size": 1, "retry_after": "2s"})
	first := post(w, `1`, nil)
	deadline := time.Now().Add(5 * time.Second)
	for len(w.queue) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first request never queued")
		}
		time.Sleep(time.Millisecond)
	}
	r := await(t, post(w, `2`, nil))
	if r.status != 429 || r.header.Get("Retry-After") != "2" {
		t.Fatalf("second request: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	recs := read(t, w)
	if len(recs) != 1 || string(recs[0].Value) != "1" {
		t.Fatalf("records = %+v", recs)
	}
	_ = w.Ack(t.Context(), recs[0].Position)
	if r := await(t, first); r.status != 200 {
		t.Fatalf("first request: %d", r.status)
	}
}

func TestWebhookAckTimeoutDropsUnreadRequest(t *testing.T) {
	t.Parallel()
	w := openWebhook(t, map[string]any{"ack_timeout": "100ms"})
	r := await(t, post(w, `late`, nil))
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if recs, err := w.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read after timeout = %v, %v; the cancelled request must not reach the log", recs, err)
	}
}

func TestWebhookAckCoversWholeRequestsOnly(t *testing.T) {
	t.Parallel()
	w := openWebhook(t, map[string]any{"batch": true})
	ch := post(w, `[1,2]`, nil)
	recs := read(t, w)
	if len(recs) != 2 {
		t.Fatalf("records = %+v", recs)
	}
	_ = w.Ack(t.Context(), recs[0].Position)
	select {
	case r := <-ch:
		t.Fatalf("answered %d after acking half of the request", r.status)
	case <-time.After(50 * time.Millisecond):
	}
	_ = w.Ack(t.Context(), recs[1].Position)
	if r := await(t, ch); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
}

func TestWebhookCloseAnswers503(t *testing.T) {
	t.Parallel()
	w := openWebhook(t, map[string]any{})
	ch := post(w, `x`, nil)
	recs := read(t, w)
	if len(recs) != 1 {
		t.Fatal(recs)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r := await(t, ch); r.status != 503 {
		t.Fatalf("status %d", r.status)
	}
	if _, err := w.Read(ctx); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestWebhookPositionsFromAnotherRunAreIgnored(t *testing.T) {
	t.Parallel()
	w := openWebhook(t, map[string]any{})
	if err := w.Ack(t.Context(), sdk.Position("deadbeef.1.0")); err != nil {
		t.Fatal(err)
	}
}

// Rules across settings are the spec's, so lint and the API report them.
func TestWebhookKeyHeaderAndFieldRefused(t *testing.T) {
	t.Parallel()
	_, err := webhookSpec().Validate(map[string]any{"listen": "127.0.0.1:0", "key_header": "X-Id", "key_field": "id"})
	if err == nil || !strings.Contains(err.Error(), "key_field: set key_header or key_field, not both") {
		t.Fatalf("err = %v", err)
	}
}
