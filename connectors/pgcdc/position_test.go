package pgcdc

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The streaming fast path writes what json.Marshal writes.
func TestPositionBytesMatchMarshal(t *testing.T) {
	for _, p := range []position{{}, {LSN: "0/15D3FB8"}, {LSN: "16/B374D848", N: 12}} {
		p.V = 1
		want, _ := json.Marshal(p)
		if got := p.bytes(); !bytes.Equal(got, want) {
			t.Fatalf("got %s want %s", got, want)
		}
	}
}
