package jdbc

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/schema"
)

// BenchmarkSinkToRow measures the per-record conversion of the sink's hot path.
func BenchmarkSinkToRow(b *testing.B) {
	cfg, _ := sinkSpec.Validate(map[string]any{"dsn": mysqlDSN, "table.name.format": "x"})
	snk, _ := newSink(cfg, sdk.Env{})
	sch := &schema.Schema{Key: []string{"id"}, Fields: []schema.Field{{Name: "id", Type: schema.Int64}, {Name: "name", Type: schema.String}, {Name: "amount", Type: schema.DecimalT}, {Name: "ts", Type: schema.Timestamp}}}
	recs := make([]sdk.Record, 1000)
	for i := range recs {
		recs[i] = sdk.Record{Topic: "x", Key: []byte(fmt.Sprintf(`{"id":%d}`, i)), Schema: sch, Fields: map[string]any{"id": int64(i), "name": fmt.Sprint("customer-", i), "amount": schema.Decimal("12.25"), "ts": time.Now()}}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		snk.toRow(&recs[i%1000], i)
	}
}

func TestParseFlatKeyAgreesWithJSON(t *testing.T) {
	for _, k := range []string{`{"id":42}`, `{"a":-1,"b":"x y"}`, `{"a":"\"q"}`, `{"a":1.5}`, `{"a":{"b":1}}`, `{"a":1}x`, `{"a":1`, `{"a":"ü"}`, `{"a":99999999999999999999}`} {
		m, ok := parseFlatKey([]byte(k), nil)
		var want map[string]any
		werr := json.Unmarshal([]byte(k), &want)
		if ok && werr != nil {
			t.Errorf("%s accepted, json refuses it", k)
		}
		got := map[string]any{}
		for _, x := range m {
			got[x.name] = x.v
		}
		if ok && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, json %v", k, m, want)
		}
	}
}
