package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/braidhq/braid/runtime/log"
)

// Once the NATS connection is closed for good, liveness and readiness both
// fail (they answered ok and 200 before), so a supervisor restarts the
// process instead of leaving it up with nothing it can do.
func TestHealthFailsWhenNATSIsGone(t *testing.T) {
	f := newFixture(t, Options{})
	f.must(http.StatusOK, "GET", "/healthz", nil, nil)
	f.must(http.StatusOK, "GET", "/readyz", nil, nil)
	f.eng.Conn.NC.Close()
	<-f.eng.Conn.Closed()
	if !f.eng.Conn.Unexpected() {
		t.Fatal("a close nobody asked for is not reported as unexpected")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := f.do("GET", path, nil)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "closed for good") {
			t.Errorf("%s after the connection closed: %d %s", path, code, body)
		}
	}
}

// An idle worker still exposes its build and its own gauges, and a scrape
// is served from a snapshot of the log's figures instead of a round trip
// per topic and group: a topic created after the first scrape appears only
// once the snapshot is refreshed.
func TestMetricsIdleAndCached(t *testing.T) {
	f := newFixture(t, Options{})
	_, body := f.do("GET", "/metrics", nil)
	if !strings.Contains(string(body), `braid_build_info{goversion=`) || !strings.Contains(string(body), `version="test"`) {
		t.Fatalf("an idle worker's /metrics has no braid_build_info:\n%s", firstLines(body, 20))
	}
	ctx := context.Background()
	if err := f.eng.Log.CreateTopic(ctx, "later", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	_, body = f.do("GET", "/metrics", nil)
	if strings.Contains(string(body), `topic="later"`) {
		t.Fatal("the second scrape went to the log instead of the snapshot")
	}
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
