package mysqlcdc

import (
	"github.com/braidhq/braid/connectors/internal/cdcenv/cdcenvtest"
	"testing"

	"github.com/braidhq/braid/connectors/sdk"
)

// TestDebeziumEnvelope reads a snapshot row, an insert, an update and a
// delete with envelope debezium and checks Debezium's shape: op r/c/u/d,
// before and after, the source block, and a tombstone after the delete.
func TestDebeziumEnvelope(t *testing.T) {
	t.Parallel()
	db := newDB(t, "CREATE TABLE o (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO o VALUES (1,'a')")
	s := openSource(t, map[string]any{"tables": []any{db + ".o"}, "envelope": "debezium"}, nil)
	exec(t, db, "INSERT INTO o VALUES (2,'b')", "UPDATE o SET v='c' WHERE id=2", "DELETE FROM o WHERE id=2")
	recs := readN(t, s, 5)
	fields := make([]map[string]any, len(recs))
	for i := range recs {
		fields[i] = recs[i].Fields
	}
	srcs := cdcenvtest.Check(t, fields, cdcenvtest.Workload)
	for i := range 4 {
		src := srcs[i]
		if src["connector"] != "mysql" || src["db"] != db || src["table"] != "o" || src["snapshot"] != (map[bool]string{true: "true", false: "false"})[i == 0] {
			t.Errorf("record %d source = %v", i, src)
		}
		if i > 0 {
			if pos, ok := src["pos"].(int64); !ok || pos <= 0 || src["file"] == "" {
				t.Errorf("record %d source position = %v / %v", i, src["file"], src["pos"])
			}
		}
		if _, ok := recs[i].Headers.Get(HeaderSchema); ok || recs[i].Schema != nil {
			t.Errorf("record %d keeps the row's schema", i)
		}
	}
	if tomb := recs[4]; !tomb.IsTombstone() || tomb.Fields != nil || string(tomb.Key) != `{"id":2}` || tomb.Op != sdk.Operation("") {
		t.Errorf("record 4 is not the delete's tombstone: %+v", tomb)
	}
	expectQuiet(t, s)
}
