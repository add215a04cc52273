package incsnap

import (
	"slices"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

func TestPickAndQueue(t *testing.T) {
	captured := []string{"shop.items", "shop.orders", "crm.people"}
	pick, un := Pick(sdk.SnapshotRequest{Tables: []string{"shop.*", "crm.nope"}}, captured)
	if !slices.Equal(pick, []string{"shop.items", "shop.orders"}) || !slices.Equal(un, []string{"crm.nope"}) {
		t.Fatalf("pick %v unmatched %v", pick, un)
	}
	if pick, _ := Pick(sdk.SnapshotRequest{}, captured); !slices.Equal(pick, captured) {
		t.Fatalf("no tables picks all: %v", pick)
	}
	var q Queue
	q.Add(sdk.SnapshotRequest{ID: 3})
	q.Add(sdk.SnapshotRequest{ID: 1})
	q.Add(sdk.SnapshotRequest{ID: 3})
	got := q.Take()
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 || len(q.Take()) != 0 {
		t.Fatalf("queue %+v", got)
	}
	c := NewChunk("t", []int{1, 2, 3}, func(i int) string { return string(rune('a' + i)) })
	c.Drop("c")
	c.Drop("zz")
	if !slices.Equal(c.Kept(), []int{1, 3}) || c.Len() != 3 {
		t.Fatalf("kept %v", c.Kept())
	}
	var p Progress
	p.Queue("t", 10)
	p.Update("t", Running, 4)
	p.Update("t", Done, 12)
	pr := sdk.Progress{Phase: "streaming"}
	p.Fill(&pr)
	if tb := pr.Tables[0]; tb.State != Done || tb.Done != 16 || tb.Total != 16 || pr.Phase != "streaming" {
		t.Fatalf("progress %+v", pr)
	}
}
