package log_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/braidhq/braid/runtime/log"
)

// A topic stored by an earlier build (format 1: sparse offsets) is refused
// with a message that says what it is and what to do, by every operation
// that would read or write it.
func TestOlderFormatRefused(t *testing.T) {
	conn := startEmbedded(t, t.TempDir())
	t.Cleanup(func() { closeConn(t, conn) })
	l := openLog(t, conn)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatal(err)
	}
	// What a format-1 build created: config in the metadata, no format key.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: log.StreamName("old"), Subjects: []string{"braid.t.old.*"},
		Description: `braid topic config {"partitions":1}`,
		Metadata:    map[string]string{"braid.topic.config": `{"partitions":1}`, "braid.topic.name": "old"},
	}); err != nil {
		t.Fatal(err)
	}
	p := l.Producer(log.ProducerOptions{})
	defer p.Close(ctx)
	_, perr := p.Publish(ctx, log.Batch{Topic: "old", Records: []log.Record{{Partition: -1, Value: []byte("x")}}})
	_, rerr := l.NewReader(ctx, "old", 0, log.Earliest)
	_, terr := l.Topic(ctx, "old")
	eerr := l.EnsureTopic(ctx, "old", log.TopicConfig{Partitions: 1})
	for what, err := range map[string]error{"publish": perr, "reader": rerr, "describe": terr, "ensure": eerr} {
		if !errors.Is(err, log.ErrTopicFormat) {
			t.Fatalf("%s on a format-1 topic: %v, want ErrTopicFormat", what, err)
		}
		for _, want := range []string{"format 1", "format 2", "braid topics delete old", "--data-dir"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("%s: %q does not say %q", what, err, want)
			}
		}
	}
	// A topic this build creates carries its format.
	if err := l.CreateTopic(ctx, "fresh", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, log.StreamName("fresh"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Metadata["braid.topic.format"]; got != "2" {
		t.Fatalf("format of a new topic: %q, want 2", got)
	}
}
