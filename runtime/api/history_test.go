package api

import (
	"net/http"
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{HistoryEvery: 50 * time.Millisecond})
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "quiet",
		"config": map[string]any{"connector": "vault", "password": "pw", "topic": "q"}}, nil)
	var h History
	eventually(t, "two samples", func() bool {
		f.must(http.StatusOK, "GET", "/connectors/quiet/history", nil, &h)
		return len(h.Points) >= 2
	})
	if h.Name != "quiet" || h.Interval != "50ms" || h.Points[1].RecordsPerSec != 0 || h.Points[1].Lag != nil {
		t.Errorf("history of an idle source: %+v", h)
	}
	if code, _ := f.do("GET", "/connectors/nope/history", nil); code != http.StatusNotFound {
		t.Errorf("history of a missing connector: %d", code)
	}
	if c := newHistory(time.Millisecond).capacity(); c != maxHistoryPoints {
		t.Errorf("capacity at 1ms: %d, want the bound %d", c, maxHistoryPoints)
	}
	if c := newHistory(0).capacity(); c != 90 {
		t.Errorf("capacity at the default: %d, want 90", c)
	}
}
