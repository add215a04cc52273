package http

import (
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

func TestConformanceWebhook(t *testing.T) {
	t.Parallel()
	// The suite opens the source itself, so it needs a port known in advance.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // a client that keeps posting until the test ends
		client := &nethttp.Client{Timeout: time.Second}
		for i := 0; ctx.Err() == nil; i++ {
			resp, err := client.Post("http://"+addr+"/", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
			if err != nil {
				time.Sleep(5 * time.Millisecond) // not listening yet: poll
				continue
			}
			resp.Body.Close()
		}
	}()
	sdktest.RunSource(t, WebhookPlugin(), sdktest.SourceCase{
		Config:   map[string]any{"listen": addr, "ack_timeout": "2s"},
		Want:     2,
		NoResume: true,
	})
}

func TestConformancePoll(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprint(rw, `{"items":[{"id":1},{"id":2}],"next":"b"}`)
		case "b":
			fmt.Fprint(rw, `{"items":[{"id":3}],"next":"c"}`)
		default:
			fmt.Fprint(rw, `{"items":[{"id":4}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	sdktest.RunSource(t, PollPlugin(), sdktest.SourceCase{
		Config: map[string]any{"url": srv.URL, "records_path": "items", "pagination": "cursor", "cursor_path": "next"},
		Want:   4,
	})
}

func TestConformanceSink(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t)
	sdktest.RunSink(t, SinkPlugin(), sdktest.SinkCase{
		Config:  map[string]any{"url": e.URL + "/{{.Topic}}", "mode": "batch"},
		Records: recs("orders", `{"a":1}`, `{"a":2}`, `{"a":3}`),
		Check: func(t *testing.T, written []sdk.Record) {
			got := e.got()
			if len(got) != 1 || got[0].body != `[{"a":1},{"a":2},{"a":3}]` || got[0].path != "/orders" {
				t.Fatalf("requests = %+v", got)
			}
		},
	})
}
