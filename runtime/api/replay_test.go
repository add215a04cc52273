package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

// putDeadLetters writes records into topic dlq as the worker would: each
// with braid.dlq.* headers naming origin/partition; and one without
// braid.dlq.topic (a source's dead letter) at the end.
func putDeadLetters(t *testing.T, l *log.Log, dlq, origin string, partitions []int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		name string
		cfg  log.TopicConfig
	}{{dlq, log.TopicConfig{Partitions: 1}}, {origin, log.TopicConfig{Partitions: 2}}} {
		if err := l.EnsureTopic(ctx, c.name, c.cfg); err != nil {
			t.Fatal(err)
		}
	}
	p := l.Producer(log.ProducerOptions{})
	defer func() { _ = p.Close(ctx) }()
	var recs []log.Record
	for i, part := range partitions {
		recs = append(recs, log.Record{Key: []byte{byte('a' + i)}, Value: []byte(`{"n":` + string(rune('0'+i)) + `}`), Partition: 0, Headers: []log.Header{
			{Key: "trace", Value: "keep"},
			{Key: worker.HeaderDLQStage, Value: "write"},
			{Key: worker.HeaderDLQTopic, Value: origin},
			{Key: worker.HeaderDLQPartition, Value: string(rune('0' + part))},
			{Key: worker.HeaderDLQOffset, Value: "7"},
			{Key: worker.HeaderDLQError, Value: "boom"},
		}})
	}
	recs = append(recs, log.Record{Value: []byte("from a source"), Partition: 0,
		Headers: []log.Header{{Key: worker.HeaderDLQStage, Value: "transform"}}})
	pend, err := p.Publish(ctx, log.Batch{Topic: dlq, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pend.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	putDeadLetters(t, f.eng.Log, "d-dlq", "orig", []int32{1, 0})
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"partition": 0, "offsets": []int{}}, "at least one"},
		{map[string]any{"partition": 0, "offsets": []int{-1}}, "must not be negative"},
		{map[string]any{"partition": 0, "offsets": []int{0, 2}}, "no braid.dlq.topic header"},
		{map[string]any{"partition": 0, "offsets": []int{9}}, "no record at offset 9"},
		{map[string]any{"partition": 0, "offsets": make([]int, 1001)}, "at most 1000"},
	} {
		code, data := f.do("POST", "/topics/d-dlq/replay", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(string(data), tc.want) {
			t.Errorf("replay %v: %d %s, want 400 with %q", tc.body, code, data, tc.want)
		}
	}
	var info TopicDetail
	f.must(http.StatusOK, "GET", "/topics/orig", nil, &info)
	for _, p := range info.Partitions {
		if p.EndOffset != 0 {
			t.Fatalf("a refused replay published: %+v", info.Partitions)
		}
	}
	code, _ := f.do("POST", "/topics/nope/replay", map[string]any{"offsets": []int{0}})
	if code != http.StatusNotFound {
		t.Errorf("replay from a missing topic: %d, want 404", code)
	}

	var res ReplayResult
	f.must(http.StatusOK, "POST", "/topics/d-dlq/replay", map[string]any{"partition": 0, "offsets": []int{1, 0, 1}}, &res)
	if len(res.Replayed) != 2 || res.Replayed[0].Offset != 0 || res.Replayed[0].Topic != "orig" ||
		res.Replayed[0].Partition != 1 || res.Replayed[1].Partition != 0 {
		t.Fatalf("replay: %+v", res)
	}
	var page Records
	f.must(http.StatusOK, "GET", "/topics/orig/records?partition=1&offset=earliest", nil, &page)
	if len(page.Records) != 1 {
		t.Fatalf("orig partition 1: %+v", page)
	}
	h := page.Records[0].Headers
	if h[HeaderReplayedFrom] != "d-dlq/0/0" || h["trace"] != "keep" || h[worker.HeaderDLQError] != "" || string(page.Records[0].Key.(string)) != "a" {
		t.Errorf("the replayed record: %+v", page.Records[0])
	}
	// Replayed again at once: the duplicate window stores it once.
	f.must(http.StatusOK, "POST", "/topics/d-dlq/replay", map[string]any{"partition": 0, "offsets": []int{0}}, &res)
	f.must(http.StatusOK, "GET", "/topics/orig", nil, &info)
	if info.Partitions[1].EndOffset != 1 {
		t.Errorf("a double replay stored the record twice: %+v", info.Partitions)
	}
}
