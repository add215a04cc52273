package httpbench

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// TestWebhook runs a small benchmark; BRAID_HTTPBENCH_RECORDS=1000000 runs the
// full measurement and prints the JSON result.
func TestWebhook(t *testing.T) {
	records := 20000
	if v, err := strconv.Atoi(os.Getenv("BRAID_HTTPBENCH_RECORDS")); err == nil {
		records = v
	}
	res, err := Webhook(t.Context(), Options{Records: records, BatchSize: 100, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != int64(records) || res.Requests != int64(records/100) || res.RPS <= 0 || res.P99Millis <= 0 {
		t.Fatalf("result = %+v", res)
	}
	b, _ := json.Marshal(res)
	t.Logf("%s", b)
}

// BenchmarkWebhook reports records/s through the webhook and the bare baseline.
func BenchmarkWebhook(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		res, err := Webhook(b.Context(), Options{Records: 200000, BatchSize: 100, Concurrency: 8})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.RPS, "records/s")
		b.ReportMetric(res.Ratio, "ratio")
		b.ReportMetric(res.P99Millis, "p99_ms")
	}
}
