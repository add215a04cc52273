package log_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/braidhq/braid/runtime/log"
)

// TestPublishToReadLatency publishes single records at a fixed pace and reads
// them back with a Reader, as a sink task does, beside core NATS publish →
// subscribe on the same connection (the floor of any JetStream delivery).
// It checks order and completeness and logs p50/p99; LOGLAT_RECORDS runs a
// longer measurement.
func TestPublishToReadLatency(t *testing.T) {
	n := 2000
	if s := os.Getenv("LOGLAT_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const rate = 10_000
	conn := startEmbedded(t, t.TempDir())
	t.Cleanup(func() { closeConn(t, conn) })
	l := openLog(t, conn)
	defer l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	core := coreLatency(t, conn.NC, n, rate)

	topic := "latency_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.DeleteTopic(context.WithoutCancel(ctx), topic) }()
	r, err := l.NewReader(ctx, topic, 0, log.Latest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan []time.Duration, 1)
	go func() {
		var lat []time.Duration
		next := 0
		for next < n && ctx.Err() == nil {
			recs, err := r.Fetch(ctx, 4096, 4<<20, 500*time.Millisecond)
			if err != nil {
				t.Error(err)
				break
			}
			now := time.Now()
			for _, rec := range recs {
				if string(rec.Value) != strconv.Itoa(next) {
					t.Errorf("record %d: got value %q", next, rec.Value)
				}
				next++
				lat = append(lat, now.Sub(rec.Timestamp))
			}
		}
		got <- lat
	}()
	p := l.Producer(log.ProducerOptions{ID: "latency"})
	defer p.Close(ctx)
	pace(n, rate, func(i int) {
		if _, err := p.Publish(ctx, log.Batch{Topic: topic, Records: []log.Record{{
			Partition: 0, Value: []byte(strconv.Itoa(i)), Timestamp: time.Now(),
		}}}); err != nil {
			t.Error(err)
		}
	})
	lat := <-got
	if len(lat) != n {
		t.Fatalf("read %d of %d records", len(lat), n)
	}
	t.Logf("%d records at %d/s: log p50 %v p99 %v; core nats p50 %v p99 %v",
		n, rate, pctl(lat, 50), pctl(lat, 99), pctl(core, 50), pctl(core, 99))
}

// coreLatency measures publish → subscribe through one core NATS connection.
func coreLatency(t *testing.T, nc *nats.Conn, n, rate int) []time.Duration {
	t.Helper()
	ch := make(chan *nats.Msg, n)
	subj := nats.NewInbox()
	sub, err := nc.ChanSubscribe(subj, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			m := <-ch
			ns, _ := strconv.ParseInt(string(m.Data), 10, 64)
			lat = append(lat, time.Since(time.Unix(0, ns)))
		}
	}()
	pace(n, rate, func(int) {
		if err := nc.Publish(subj, []byte(strconv.FormatInt(time.Now().UnixNano(), 10))); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("core nats: messages lost")
	}
	return lat
}

// pace calls fn(0..n-1) at rate per second, catching up after a late wake-up.
func pace(n, rate int, fn func(i int)) {
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		fn(i)
	}
}

func pctl(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
