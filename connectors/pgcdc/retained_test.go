package pgcdc

import (
	"context"
	"github.com/braidhq/braid/internal/logbuf"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// TestRetainedWALGauge checks the heartbeat reports the WAL the slot keeps
// as gauges and warns once, not at every heartbeat, while the slot is above
// slot.max.retained.bytes.
func TestRetainedWALGauge(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("wal_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v text)")
	dropSlotLater(t, db, slot)
	cfg, err := spec.Validate(baseConfig(tbl, slot, map[string]any{"snapshot.mode": "never", "heartbeat.interval": "100ms",
		"slot.max.retained.bytes": 1}))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	gauges := map[string]float64{}
	logs := &logbuf.Buffer{}
	env := sdk.Env{Connector: "test", Logger: slog.New(slog.NewTextHandler(logs, nil)), Gauge: func(name string, v float64) {
		mu.Lock()
		gauges[name] = v
		mu.Unlock()
	}}
	src := newSource(parseConfig(cfg, env), env)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close(context.Background()) })
	// Nobody reads: the slot keeps what these rows wrote.
	execSQL(t, db, "INSERT INTO "+tbl+" SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g")
	gauge := func(name string) float64 {
		mu.Lock()
		defer mu.Unlock()
		return gauges[name]
	}
	waitFor(t, "the retained WAL gauge", 10*time.Second, func() bool {
		return gauge("slot_retained_wal_bytes") > 100_000 && gauge("slot_over_max_retained") == 1
	})
	beats := func() int { return strings.Count(logs.String(), "retains more WAL") }
	time.Sleep(500 * time.Millisecond) // several more heartbeats
	if n := beats(); n != 1 {
		t.Fatalf("%d warnings, want one per crossing:\n%s", n, logs.String())
	}
	if gauge("slot_unconfirmed_wal_bytes") <= 0 {
		t.Errorf("unconfirmed WAL gauge = %v", gauge("slot_unconfirmed_wal_bytes"))
	}
}
