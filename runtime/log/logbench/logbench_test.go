package logbench

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestRun runs a small benchmark end to end. LOGBENCH_RECORDS runs a bigger
// one and prints its JSON line (e.g. LOGBENCH_RECORDS=1000000).
func TestRun(t *testing.T) {
	n := 20000
	if s := os.Getenv("LOGBENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Two producers: their phase once shared one payload generator, a data
	// race that -race catches here and that corrupted the heap of a real run.
	res, err := Run(ctx, Options{Records: n, Size: 128, Partitions: 3, Producers: 2, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.JSON())
	var m map[string]any
	if err := json.Unmarshal([]byte(res.JSON()), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"produce_rps", "consume_rps", "baseline_produce_rps", "baseline_consume_rps", "produce_ratio", "consume_ratio", "peak_rss_mib", "multi_produce_rps"} {
		if v, ok := m[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", k, m[k])
		}
	}
}

func TestPayloadSize(t *testing.T) {
	g := newPayloads(128)
	for i := range 1000 {
		if v := g.next(i); len(v) != 128 || !json.Valid(v) {
			t.Fatalf("payload %d: %d bytes %q", i, len(v), v)
		}
	}
}
