// Package cdcenv writes change events in Debezium's value envelope, for the
// mysql-cdc and postgres-cdc sources' `envelope: debezium` setting.
package cdcenv

import (
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// The envelope settings.
const (
	Braid    = "braid"    // Fields the row after, Before the row before (the default)
	Debezium = "debezium" // Fields {before, after, source, op, ts_ms}
)

// Field is the envelope setting of a CDC source's spec.
var Field = sdk.Field{Name: "envelope", Type: sdk.TypeString, Default: Braid, Enum: []string{Braid, Debezium},
	Doc: "braid: Fields is the row after, Before the row before, the source in braid.source.* headers (what jdbc-sink mirrors). " +
		"debezium: the value is Debezium's envelope {before, after, source, op (c, u, d, r), ts_ms}, a delete is followed by a tombstone " +
		"of its key, and the braid.schema header is left out (the topic's converter infers one); for consumers that expect Debezium's events."}

// Source describes where events come from, for the envelope's source block.
type Source struct {
	Connector string // "mysql" or "postgresql", as Debezium names them
	Name      string // the connector's name in the pipeline
	// Position adds the connector's own source fields (file, pos, gtid;
	// lsn, txId) from the braid.source.pos and braid.source.txid headers.
	Position func(pos, txid string, src map[string]any)
}

// Header keys the sources set.
const (
	hdrDB     = "braid.source.db"
	hdrTable  = "braid.source.table"
	hdrPos    = "braid.source.pos"
	hdrTS     = "braid.source.ts"
	hdrTxID   = "braid.source.txid"
	hdrSchema = "braid.schema"
)

var ops = map[sdk.Operation]string{sdk.OpCreate: "c", sdk.OpUpdate: "u", sdk.OpDelete: "d", sdk.OpSnapshot: "r"}

// Wrap rewrites recs in place into Debezium envelopes and returns them with a
// tombstone after each delete. Records without an Op (none today) pass as
// they are.
func Wrap(recs []sdk.Record, src Source) []sdk.Record {
	deletes := 0
	for i := range recs {
		if recs[i].Op == sdk.OpDelete {
			deletes++
		}
	}
	out := recs
	if deletes > 0 {
		out = make([]sdk.Record, 0, len(recs)+deletes)
	}
	now := time.Now().UnixMilli()
	for i := range recs {
		r := &recs[i]
		op, ok := ops[r.Op]
		if !ok {
			if deletes > 0 {
				out = append(out, *r)
			}
			continue
		}
		env := map[string]any{"before": nilMap(r.Before), "after": nilMap(r.Fields), "source": src.block(r), "op": op,
			"ts_ms": now, "transaction": nil}
		if r.Op == sdk.OpDelete {
			env["after"] = nil
		}
		r.Fields, r.Before, r.Schema, r.Value = env, nil, nil, nil
		r.Headers.Del(hdrSchema)
		if deletes == 0 {
			continue
		}
		out = append(out, *r)
		if r.Op == sdk.OpDelete && r.Key != nil {
			t := sdk.Record{Key: r.Key, Headers: append(sdk.Headers(nil), r.Headers...), Timestamp: r.Timestamp, Position: r.Position}
			out = append(out, t)
		}
	}
	return out
}

func nilMap(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func (src Source) block(r *sdk.Record) map[string]any {
	h := r.Headers
	b := map[string]any{"version": "braid", "connector": src.Connector, "name": src.Name,
		"snapshot": strconv.FormatBool(r.Op == sdk.OpSnapshot)}
	if v, ok := h.Get(hdrTS); ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			b["ts_ms"] = t.UnixMilli()
		}
	}
	if v, ok := h.Get(hdrDB); ok {
		b["db"] = v
	}
	if v, ok := h.Get(hdrTable); ok {
		// postgres-cdc names tables schema.table; Debezium has both fields.
		if s, t, cut := strings.Cut(v, "."); cut && src.Connector == "postgresql" {
			b["schema"], b["table"] = s, t
		} else {
			b["table"] = v
		}
	}
	if src.Position != nil {
		pos, _ := h.Get(hdrPos)
		txid, _ := h.Get(hdrTxID)
		src.Position(pos, txid, b)
	}
	return b
}
