// Package cdcenvtest checks Debezium envelopes in the CDC sources' tests.
package cdcenvtest

import (
	"testing"
)

// Event is what one envelope should hold: its op and the `v` column of
// its before and after rows ("" for none).
type Event struct {
	Op, Before, After string
}

// Workload is what the sources' envelope tests read: a snapshot row v=a,
// then an insert of v=b, its update to c, and its delete.
var Workload = []Event{{"r", "", "a"}, {"c", "", "b"}, {"u", "b", "c"}, {"d", "c", ""}}

// Check compares each record's envelope with want and returns each
// record's source block.
func Check(t testing.TB, fields []map[string]any, want []Event) []map[string]any {
	t.Helper()
	var srcs []map[string]any
	for i, w := range want {
		f := fields[i]
		if f["op"] != w.Op {
			t.Fatalf("record %d op = %v, want %s (%v)", i, f["op"], w.Op, f)
		}
		for side, v := range map[string]string{"before": w.Before, "after": w.After} {
			row, _ := f[side].(map[string]any)
			if (v == "") != (row == nil) || (row != nil && row["v"] != v) {
				t.Errorf("record %d %s = %v, want v=%q", i, side, f[side], v)
			}
		}
		if _, ok := f["ts_ms"].(int64); !ok {
			t.Errorf("record %d ts_ms = %v", i, f["ts_ms"])
		}
		src, _ := f["source"].(map[string]any)
		srcs = append(srcs, src)
	}
	return srcs
}
