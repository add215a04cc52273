package http

import (
	"errors"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

type seen struct {
	method, path, idem, auth, extra, ctype, body string
}

// endpoint is a real loopback HTTP server answering with the statuses given,
// in order (200 once they run out).
type endpoint struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
	statuses []int
}

func newEndpoint(t *testing.T, statuses ...int) *endpoint {
	e := &endpoint{statuses: statuses}
	e.Server = httptest.NewServer(nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.requests = append(e.requests, seen{r.Method, r.URL.RequestURI(), r.Header.Get("Idempotency-Key"),
			r.Header.Get("Authorization"), r.Header.Get("X-Extra"), r.Header.Get("Content-Type"), string(b)})
		status := 200
		if len(e.statuses) > 0 {
			status, e.statuses = e.statuses[0], e.statuses[1:]
		}
		e.mu.Unlock()
		if status == 429 || status == 503 {
			rw.Header().Set("Retry-After", "0")
		}
		rw.WriteHeader(status)
		_, _ = rw.Write([]byte("answer"))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) got() []seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seen(nil), e.requests...)
}

func newTestSink(t *testing.T, raw map[string]any) *Sink {
	t.Helper()
	cfg, err := sinkSpec().Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(t.Context()) })
	return s
}

func recs(topic string, values ...string) []sdk.Record {
	out := make([]sdk.Record, len(values))
	for i, v := range values {
		out[i] = sdk.Record{Topic: topic, Partition: 2, Offset: int64(10 + i), Key: []byte("k/" + v), Value: []byte(v)}
	}
	return out
}

func TestSinkSingle(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t)
	s := newTestSink(t, map[string]any{
		"url":            e.URL + "/{{.Topic}}/{{pathEscape .Key}}?n={{.Fields.n}}",
		"method":         "PUT",
		"headers":        map[string]any{"X-Extra": "yes"},
		"secret_headers": map[string]any{"Authorization": "Bearer t"},
	})
	if err := s.Write(t.Context(), recs("orders", `{"n":1}`, `{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	got := e.got()
	want := []seen{
		{"PUT", "/orders/k%2F%7B%22n%22:1%7D?n=1", "orders/2/10", "Bearer t", "yes", "application/json", `{"n":1}`},
		{"PUT", "/orders/k%2F%7B%22n%22:2%7D?n=2", "orders/2/11", "Bearer t", "yes", "application/json", `{"n":2}`},
	}
	if len(got) != len(want) {
		t.Fatalf("requests = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSinkBatch(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t)
	s := newTestSink(t, map[string]any{"url": e.URL + "/in", "mode": "batch", "batch_max": 2})
	if err := s.Write(t.Context(), recs("t", `{"a":1}`, `plain`, `3`)); err != nil {
		t.Fatal(err)
	}
	got := e.got()
	if len(got) != 2 || got[0].body != `[{"a":1},"plain"]` || got[0].idem != "t/2/10-11" ||
		got[1].body != `[3]` || got[1].idem != "t/2/12" {
		t.Fatalf("requests = %+v", got)
	}
}

func TestSinkRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, 503, 429, 500)
	s := newTestSink(t, map[string]any{"url": e.URL, "backoff": "1ms"})
	if err := s.Write(t.Context(), recs("t", "x")); err != nil {
		t.Fatal(err)
	}
	got := e.got()
	if len(got) != 4 {
		t.Fatalf("%d requests, want 4", len(got))
	}
	for _, r := range got {
		if r.idem != "t/2/10" {
			t.Fatalf("idempotency key changed between retries: %+v", got)
		}
	}
}

func TestSinkGivesUpRetryably(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, 500, 500, 500)
	s := newTestSink(t, map[string]any{"url": e.URL, "backoff": "1ms", "max_retries": 2})
	err := s.Write(t.Context(), recs("t", "x"))
	if err == nil || !sdk.IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestSinkRejectedRecordsGoToBatchError(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, 200, 422, 200)
	s := newTestSink(t, map[string]any{"url": e.URL})
	err := s.Write(t.Context(), recs("t", "a", "b", "c"))
	var be *sdk.BatchError
	if !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 1 ||
		!strings.Contains(be.Records[0].Error(), "offset 11") || !strings.Contains(be.Records[0].Error(), "422") {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.got()); n != 3 {
		t.Fatalf("%d requests, want 3 (the rest of the batch still goes out)", n)
	}
}

func TestSinkRejectsNonHTTPTargets(t *testing.T) {
	t.Parallel()
	s := newTestSink(t, map[string]any{"url": "{{.Key}}"})
	rs := recs("t", "x")
	rs[0].Key = []byte("file:///etc/passwd")
	var be *sdk.BatchError
	if err := s.Write(t.Context(), rs); !errors.As(err, &be) || !strings.Contains(err.Error(), "only http and https") {
		t.Fatalf("err = %v", err)
	}
}

func TestSinkSpecErrorsNameTheField(t *testing.T) {
	t.Parallel()
	_, err := sinkSpec().Validate(map[string]any{"url": "{{.Topic", "mode": "bulk"})
	if err == nil || !strings.Contains(err.Error(), "url:") || !strings.Contains(err.Error(), "mode:") {
		t.Fatalf("err = %v", err)
	}
	for _, p := range []sdk.Plugin{WebhookPlugin(), PollPlugin(), SinkPlugin()} {
		if err := sdk.CheckSpec(p.Spec); err != nil {
			t.Error(err)
		}
	}
}

func TestSinkDoesNotFollowRedirectsToOtherHosts(t *testing.T) {
	t.Parallel()
	other := newEndpoint(t)
	redirector := httptest.NewServer(nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
		nethttp.Redirect(rw, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/steal", nethttp.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	s := newTestSink(t, map[string]any{"url": redirector.URL, "secret_headers": map[string]any{"X-Api-Key": "k"},
		"backoff": "1ms", "max_retries": 1})
	if err := s.Write(t.Context(), recs("t", "x")); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("err = %v", err)
	}
	if n := len(other.got()); n != 0 {
		t.Fatalf("the secret header followed the redirect: %d requests", n)
	}
}
