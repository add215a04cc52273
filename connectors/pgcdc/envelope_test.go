package pgcdc

import (
	"github.com/braidhq/braid/connectors/internal/cdcenv/cdcenvtest"
	"testing"
)

// TestDebeziumEnvelope reads a snapshot row, an insert, an update and a
// delete with envelope debezium and checks Debezium's shape.
func TestDebeziumEnvelope(t *testing.T) {
	db := testDB(t)
	tbl, slot := unique("env_"), unique("slot_")
	execSQL(t, db, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v text)")
	execSQL(t, db, "ALTER TABLE "+tbl+" REPLICA IDENTITY FULL")
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (1, 'a')")
	dropSlotLater(t, db, slot)
	src := openSource(t, baseConfig(tbl, slot, map[string]any{"envelope": "debezium"}), nil)
	execSQL(t, db, "INSERT INTO "+tbl+" VALUES (2, 'b')")
	execSQL(t, db, "UPDATE "+tbl+" SET v = 'c' WHERE id = 2")
	execSQL(t, db, "DELETE FROM "+tbl+" WHERE id = 2")
	recs := readN(t, src, 5)
	fields := make([]map[string]any, len(recs))
	for i := range recs {
		fields[i] = recs[i].Fields
	}
	srcs := cdcenvtest.Check(t, fields, cdcenvtest.Workload)
	for i := range 4 {
		s := srcs[i]
		if s["connector"] != "postgresql" || s["schema"] != "public" || s["table"] != tbl || s["db"] == "" {
			t.Errorf("record %d source = %v", i, s)
		}
		if i > 0 {
			if lsn, ok := s["lsn"].(int64); !ok || lsn <= 0 {
				t.Errorf("record %d lsn = %v", i, s["lsn"])
			}
			if _, ok := s["txId"].(int64); !ok {
				t.Errorf("record %d txId = %v", i, s["txId"])
			}
		}
		if _, ok := recs[i].Headers.Get(HeaderSchema); ok || recs[i].Schema != nil {
			t.Errorf("record %d keeps the row's schema", i)
		}
	}
	if tomb := recs[4]; !tomb.IsTombstone() || tomb.Fields != nil || string(tomb.Key) != `{"id":2}` {
		t.Errorf("record 4 is not the delete's tombstone: %+v", tomb)
	}
}
