package http

import (
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

func newPollSource(t *testing.T, raw map[string]any, pos sdk.Position) *Poll {
	t.Helper()
	cfg, err := pollSpec().Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPoll(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Open(t.Context(), pos); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func readPoll(t *testing.T, p *Poll) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	recs, err := p.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func values(recs []sdk.Record) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, string(r.Key)+"="+string(r.Value))
	}
	return strings.Join(parts, " ")
}

// cursorAPI serves three items over two pages, then an empty page.
func cursorAPI(t *testing.T, hits *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer k" {
			rw.WriteHeader(401)
			return
		}
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprint(rw, `{"data":{"items":[{"id":1,"v":"a"},{"id":2,"v":1.5e300}]},"meta":{"next":"c2"}}`)
		case "c2":
			fmt.Fprint(rw, `{"data":{"items":[{"id":"3"}]},"meta":{"next":null}}`)
		default:
			rw.WriteHeader(400)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPollCursorPaginationAndResume(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := cursorAPI(t, &hits)
	raw := map[string]any{"url": srv.URL + "/items?limit=2", "auth_header": "Bearer k", "records_path": "data.items",
		"pagination": "cursor", "cursor_path": "meta.next", "key_field": "id", "interval": "20ms"}
	p := newPollSource(t, raw, nil)
	first := readPoll(t, p)
	if got := values(first); got != `1={"id":1,"v":"a"} 2={"id":2,"v":1.5e300}` {
		t.Fatalf("page 1 = %s", got)
	}
	if !strings.Contains(string(first[1].Position), "cursor=c2") {
		t.Fatalf("position = %s", first[1].Position)
	}
	second := readPoll(t, p)
	if got := values(second); got != `3={"id":"3"}` || string(second[0].Position) != `{"url":""}` {
		t.Fatalf("page 2 = %s at %s", got, second[0].Position)
	}
	// After interval the pass starts again from url.
	if got := values(readPoll(t, p)); !strings.HasPrefix(got, "1=") {
		t.Fatalf("next pass = %s", got)
	}

	// A source opened at the first record's position resumes with the second.
	mid := newPollSource(t, raw, first[0].Position)
	if got := values(readPoll(t, mid)); got != `2={"id":2,"v":1.5e300}` {
		t.Fatalf("resumed mid-page at %s", got)
	}

	// A new source opened at page 1's position resumes with page 2.
	q := newPollSource(t, raw, first[1].Position)
	if got := values(readPoll(t, q)); got != `3={"id":"3"}` {
		t.Fatalf("resumed at %s", got)
	}
}

func TestPollLinkPagination(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Query().Get("page") {
		case "":
			rw.Header().Add("Link", `<https://elsewhere/x>; rel="prev", </list?page=2>; rel="next last"`)
			fmt.Fprint(rw, `[{"n":1}]`)
		case "2":
			rw.Header().Add("Link", `<http://evil.example/list?page=3>; rel=next`)
			fmt.Fprint(rw, `[{"n":2}]`)
		}
	}))
	t.Cleanup(srv.Close)
	p := newPollSource(t, map[string]any{"url": srv.URL + "/list", "pagination": "link"}, nil)
	recs := readPoll(t, p)
	if values(recs) != `={"n":1}` || !strings.Contains(string(recs[0].Position), "/list?page=2") {
		t.Fatalf("page 1 = %s at %s", values(recs), recs[0].Position)
	}
	_, err := p.Read(t.Context())
	if err == nil || !sdk.IsFatal(err) || !strings.Contains(err.Error(), "leaves") {
		t.Fatalf("a Link to another host: err = %v, want a fatal refusal", err)
	}
}

func TestPollRepeatStaysOnLastPage(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := cursorAPI(t, &hits)
	p := newPollSource(t, map[string]any{"url": srv.URL, "auth_header": "Bearer k", "records_path": "data.items",
		"pagination": "cursor", "cursor_path": "meta.next", "on_end": "repeat", "interval": "10ms"}, nil)
	readPoll(t, p)
	last := readPoll(t, p)
	if !strings.Contains(string(last[0].Position), "cursor=c2") {
		t.Fatalf("position = %s, want the last page again", last[0].Position)
	}
	if got := values(readPoll(t, p)); got != `={"id":"3"}` {
		t.Fatalf("repeat fetched %s", got)
	}
}

func TestPollErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		check  func(error) bool
	}{
		{429, func(err error) bool { var b *sdk.BackoffError; return errors.As(err, &b) && b.Wait == 7*time.Second }},
		{500, sdk.IsRetryable},
		{403, sdk.IsFatal},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
				rw.Header().Set("Retry-After", "7")
				rw.WriteHeader(tc.status)
			}))
			t.Cleanup(srv.Close)
			p := newPollSource(t, map[string]any{"url": srv.URL + "/?api_key=SECRET"}, nil)
			_, err := p.Read(t.Context())
			if !tc.check(err) || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestPollConfig(t *testing.T) {
	t.Parallel()
	if _, err := pollSpec().Validate(map[string]any{"url": "file:///etc/passwd"}); err == nil || !strings.Contains(err.Error(), "url:") {
		t.Fatalf("err = %v", err)
	}
	// A rule across settings, reported by Validate (lint, the API).
	_, err := pollSpec().Validate(map[string]any{"url": "http://127.0.0.1/", "pagination": "cursor"})
	if err == nil || !strings.Contains(err.Error(), "cursor_path: required with pagination: cursor") {
		t.Fatalf("err = %v", err)
	}
}

func TestLinkNext(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`<a?p=2>; rel="next"`:                     "a?p=2",
		`<a>; rel="prev", <b>; rel=next`:          "b",
		`<a>; rel="first next"`:                   "a",
		`<a>; title="next"; rel="prev"`:           "",
		`<a, b>; rel="nextpage", <c>; REL="Next"`: "c",
	}
	for in, want := range cases {
		if got := linkNext([]string{in}); got != want {
			t.Errorf("linkNext(%s) = %q, want %q", in, got, want)
		}
	}
}
