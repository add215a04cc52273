package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/schema/registry"
)

// putAvro registers a record schema {id: long} for topic-value and writes
// one framed record with id 5, one unframed record and one with an unknown
// schema id.
func putAvro(t *testing.T, f *fixture, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := f.eng.Schemas.Register(ctx, topic+"-value", registry.Schema{
		Schema: `{"type":"record","name":"Event","fields":[{"name":"id","type":"long"}]}`}, registry.RegisterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Log.EnsureTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	framed := []byte{0, 0, 0, 0, byte(id), 0x0a} // zigzag(5) = 10
	p := f.eng.Log.Producer(log.ProducerOptions{})
	defer func() { _ = p.Close(ctx) }()
	pend, err := p.Publish(ctx, log.Batch{Topic: topic, Records: []log.Record{
		{Value: framed, Partition: 0}, {Value: []byte(`{"plain":true}`), Partition: 0}, {Value: []byte{0, 0, 0, 0, 99, 1}, Partition: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pend.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsDecodeSchema(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	putAvro(t, f, "avro-events")
	var page Records
	f.must(http.StatusOK, "GET", "/topics/avro-events/records?decode=schema&limit=3", nil, &page)
	if len(page.Records) != 3 {
		t.Fatalf("records: %+v", page)
	}
	r := page.Records[0]
	got, _ := json.Marshal(r.ValueDecoded)
	if string(got) != `{"id":5}` || r.ValueSchema == nil || r.ValueSchema.Type != "AVRO" ||
		r.ValueSchema.Subject != "avro-events-value" || r.ValueSchema.Version != 1 || r.DecodeError != "" {
		t.Errorf("the framed record: decoded %s, schema %+v, error %q", got, r.ValueSchema, r.DecodeError)
	}
	for _, r := range page.Records[1:] {
		if r.ValueDecoded != nil || r.ValueSchema != nil || r.DecodeError != "" {
			t.Errorf("offset %d is not framed with a known schema but was decoded: %+v", r.Offset, r)
		}
	}
	if code, _ := f.do("GET", "/topics/avro-events/records?decode=avro", nil); code != http.StatusBadRequest {
		t.Errorf("decode=avro: %d, want 400", code)
	}
	if code, _ := f.do("GET", "/topics/avro-events/records?encoding=hex", nil); code != http.StatusBadRequest {
		t.Errorf("encoding=hex: %d, want 400", code)
	}
}

func TestRecordsByTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	before := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	putAvro(t, f, "timed")
	var page Records
	f.must(http.StatusOK, "GET", "/topics/timed/records?time="+before, nil, &page)
	if len(page.Records) != 3 || page.Records[0].Offset != 0 {
		t.Errorf("from a minute ago: %+v", page)
	}
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	f.must(http.StatusOK, "GET", "/topics/timed/records?time="+later, nil, &page)
	if len(page.Records) != 0 || page.NextOffset != 3 {
		t.Errorf("from an hour ahead: %+v, want nothing and next_offset 3", page)
	}
	for _, q := range []string{"time=yesterday", "time=" + later + "&offset=0"} {
		if code, _ := f.do("GET", "/topics/timed/records?"+q, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
}
