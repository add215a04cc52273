package mysqlcdc

import (
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

func TestSpec(t *testing.T) {
	t.Parallel()
	for _, bad := range []map[string]any{
		{"dsn": "x", "tables": []any{"nodot"}},
		{"dsn": "x", "tables": []any{"a.[b"}},
		{"dsn": "x", "tables": []any{"a.b"}, "snapshot.mode": "sometimes"},
		{"dsn": "x", "tables": []any{"a.b"}, "server.id": -1},
	} {
		if _, err := spec.Validate(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	cfg, err := spec.Validate(map[string]any{"dsn": "x", "tables": []any{"shop.*", "*.log_?"}, "exclude.tables": []any{"shop.tmp*"}})
	if err != nil {
		t.Fatal(err)
	}
	c := parseConfig(cfg, sdk.Env{Pipeline: "p", Connector: "c"})
	for name, want := range map[string]bool{"shop.orders": true, "shop.tmp1": false, "app.log_1": true, "app.log_10": false, "app.orders": false} {
		db, tbl, _ := cutDot(name)
		if got := c.captures(db, tbl); got != want {
			t.Errorf("captures(%s) = %v", name, got)
		}
	}
	other := parseConfig(cfg, sdk.Env{Pipeline: "p", Connector: "d"})
	if c.serverID < 1<<30 || c.serverID >= 1<<31 || c.serverID == other.serverID || c.serverID != deriveServerID("p", "c") {
		t.Errorf("derived server ids %d and %d", c.serverID, other.serverID)
	}
}

// A table without a primary key streams with a null key.
func TestStreamWithoutKey(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE nk (v INT)")
	s := openSource(t, map[string]any{"tables": []any{db + ".nk"}, "snapshot.mode": "never"}, nil)
	exec(t, db, "INSERT INTO nk VALUES (7)", "DELETE FROM nk")
	recs := readN(t, s, 2)
	if recs[0].Key != nil || recs[0].Fields["v"] != int32(7) || recs[1].Op != sdk.OpDelete || recs[1].Before["v"] != int32(7) {
		t.Fatalf("%+v", recs)
	}
}
