package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// tablesSource is a test source that takes incremental snapshots: it keeps
// every request the worker hands to each of its instances.
type tablesSource struct {
	got *requestLog
}

type requestLog struct {
	mu    sync.Mutex
	opens int
	seen  [][]uint64 // per Open: the request IDs handed over
}

func (s *tablesSource) Open(context.Context, sdk.Position) error {
	s.got.mu.Lock()
	s.got.opens++
	s.got.seen = append(s.got.seen, nil)
	s.got.mu.Unlock()
	return nil
}

func (s *tablesSource) Read(ctx context.Context) ([]sdk.Record, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (s *tablesSource) Ack(context.Context, sdk.Position) error { return nil }
func (s *tablesSource) Close(context.Context) error             { return nil }

func (s *tablesSource) Snapshot(reqs []sdk.SnapshotRequest) error {
	s.got.mu.Lock()
	defer s.got.mu.Unlock()
	for _, r := range reqs {
		if slices.Contains(r.Tables, "db.refused") {
			return fmt.Errorf("db.refused is not captured")
		}
	}
	last := &s.got.seen[len(s.got.seen)-1]
	for _, r := range reqs {
		if !slices.Contains(*last, r.ID) {
			*last = append(*last, r.ID)
		}
	}
	return nil
}

func (l *requestLog) lastOpen() (int, []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return 0, nil
	}
	return l.opens, slices.Clone(l.seen[len(l.seen)-1])
}

// POST /connectors/{name}/snapshot stores the request in the cluster and
// the worker hands it to the running source, and again to the instance a
// restart opens; connectors that cannot snapshot answer 400, unknown ones
// 404, and bad tables 400.
func TestSnapshotRequest(t *testing.T) {
	t.Parallel()
	got := &requestLog{}
	plugin := sdk.Plugin{Spec: sdk.Spec{Name: "tables", Kind: sdk.KindSource, Summary: "test source with incremental snapshots", Version: "1.0"},
		NewSource: func(sdk.Config, sdk.Env) (sdk.Source, error) { return &tablesSource{got: got}, nil }}
	f := newFixtureWith(t, Options{}, plugin)
	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "cdc", "config": map[string]any{"connector": "tables", "topic": "t"}}, nil)
	eventually(t, "the source opens", func() bool { n, _ := got.lastOpen(); return n == 1 })

	var acc SnapshotAccepted
	f.must(http.StatusAccepted, "POST", "/connectors/cdc/snapshot", SnapshotRequest{Tables: []string{"db.a", "db.b"}}, &acc)
	if acc.ID != 1 || strings.Join(acc.Tables, ",") != "db.a,db.b" {
		t.Fatalf("accepted %+v", acc)
	}
	f.must(http.StatusAccepted, "POST", "/connectors/cdc/snapshot", nil, &acc)
	if acc.ID != 2 || len(acc.Tables) != 0 {
		t.Fatalf("accepted %+v", acc)
	}
	eventually(t, "both requests handed over", func() bool { _, ids := got.lastOpen(); return slices.Equal(ids, []uint64{1, 2}) })

	f.must(http.StatusNoContent, "POST", "/connectors/cdc/restart", nil, nil)
	eventually(t, "the reopened source gets the requests again", func() bool {
		n, ids := got.lastOpen()
		return n == 2 && slices.Equal(ids, []uint64{1, 2})
	})

	// Refused by the source: logged, and the request stays for a later Open.
	f.must(http.StatusAccepted, "POST", "/connectors/cdc/snapshot", SnapshotRequest{Tables: []string{"db.refused"}}, nil)
	eventually(t, "the refusal in the log", func() bool { return strings.Contains(f.logs.String(), "incremental snapshot refused") })

	f.must(http.StatusCreated, "POST", "/connectors", map[string]any{"name": "files",
		"config": map[string]any{"connector": "file", "kind": "sink", "topics": "t", "path": f.dir + "/out"}}, nil)
	code, body := f.do("POST", "/connectors/files/snapshot", nil)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "cannot take an incremental snapshot") {
		t.Fatalf("file sink: %d %s", code, body)
	}
	f.must(http.StatusNotFound, "POST", "/connectors/nope/snapshot", nil, nil)
	code, body = f.do("POST", "/connectors/cdc/snapshot", SnapshotRequest{Tables: []string{strings.Repeat("x", 300)}})
	if code != http.StatusBadRequest || !strings.Contains(string(body), "1 to 256 characters") {
		t.Fatalf("long table name: %d %s", code, body)
	}
	code, body = f.do("POST", "/connectors/cdc/snapshot", "not an object")
	if code != http.StatusBadRequest {
		t.Fatalf("bad body: %d %s", code, body)
	}
}
