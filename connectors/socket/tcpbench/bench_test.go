package tcpbench

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// TestRun runs a small benchmark of the source alone and prints the
// result; BRAID_TCPBENCH_LINES=1000000 runs a full one.
func TestRun(t *testing.T) {
	lines := 20000
	if v, err := strconv.Atoi(os.Getenv("BRAID_TCPBENCH_LINES")); err == nil {
		lines = v
	}
	res, err := Run(t.Context(), Options{Lines: lines, Clients: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != int64(lines) || res.LinesPerSec <= 0 || res.BaselineLinesPerSec <= 0 || res.Ratio <= 0 {
		t.Fatalf("result = %+v", res)
	}
	b, _ := json.Marshal(res)
	t.Logf("%s", b)
}
