package plugin

import (
	"fmt"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
)

// plain reports whether every record fits a packed batch (which has no
// headers, op, fields, schema or error).
func plain(recs []sdk.Record) bool {
	for i := range recs {
		r := &recs[i]
		if len(r.Headers) > 0 || r.Op != "" || r.Before != nil || r.Fields != nil || r.Schema != nil || r.Err != nil {
			return false
		}
	}
	return true
}

// encode makes the batch the receiver reads best: packed when it can read
// that and the records allow it.
func encode(recs []sdk.Record, packed bool) *pb.Batch {
	if packed && len(recs) > 0 && plain(recs) {
		return &pb.Batch{Packed: pack(recs)}
	}
	return toBatch(recs)
}

// decode reads either form of a batch.
func decode(b *pb.Batch) ([]sdk.Record, error) {
	if b.GetPacked() != nil {
		return unpack(b.Packed)
	}
	return fromBatch(b)
}

func pack(recs []sdk.Record) *pb.Packed {
	n, size := len(recs), 0
	for i := range recs {
		size += len(recs[i].Key) + len(recs[i].Value) + len(recs[i].Position)
	}
	p := &pb.Packed{Data: make([]byte, 0, size), KeyLens: make([]int32, n), ValueLens: make([]int32, n),
		PositionLens: make([]uint32, n), TimestampNanos: make([]int64, n)}
	topics := map[string]uint32{}
	sinkSide := false
	for i := range recs {
		sinkSide = sinkSide || recs[i].Topic != "" || recs[i].Offset != 0 || recs[i].Partition != 0
	}
	if sinkSide {
		p.Offsets, p.Partitions, p.TopicIndex = make([]int64, n), make([]int32, n), make([]uint32, n)
	}
	for i := range recs {
		r := &recs[i]
		p.KeyLens[i], p.ValueLens[i] = lenOrNil(r.Key), lenOrNil(r.Value)
		p.PositionLens[i] = uint32(len(r.Position))
		p.Data = append(append(append(p.Data, r.Key...), r.Value...), r.Position...)
		if !r.Timestamp.IsZero() {
			p.TimestampNanos[i] = r.Timestamp.UnixNano()
		}
		if sinkSide {
			ti, ok := topics[r.Topic]
			if !ok {
				ti = uint32(len(p.Topics))
				topics[r.Topic] = ti
				p.Topics = append(p.Topics, r.Topic)
			}
			p.Offsets[i], p.Partitions[i], p.TopicIndex[i] = r.Offset, r.Partition, ti
		}
	}
	return p
}

func lenOrNil(b []byte) int32 {
	if b == nil {
		return -1
	}
	return int32(len(b))
}

// unpack decodes a packed batch; its records' bytes share the message's
// data, which nothing else holds.
func unpack(p *pb.Packed) ([]sdk.Record, error) {
	n := len(p.KeyLens)
	if len(p.ValueLens) != n || len(p.PositionLens) != n || len(p.TimestampNanos) != n ||
		(len(p.Offsets) != 0 && (len(p.Offsets) != n || len(p.Partitions) != n || len(p.TopicIndex) != n)) {
		return nil, fmt.Errorf("packed batch: columns of different lengths")
	}
	out := make([]sdk.Record, n)
	data := p.Data
	take := func(l int32) ([]byte, error) {
		if l < 0 {
			return nil, nil
		}
		if int(l) > len(data) {
			return nil, fmt.Errorf("packed batch: %d bytes announced, %d left", l, len(data))
		}
		b := data[:l:l]
		data = data[l:]
		return b, nil
	}
	var err error
	for i := 0; i < n; i++ {
		r := &out[i]
		if r.Key, err = take(p.KeyLens[i]); err != nil {
			return nil, err
		}
		if r.Value, err = take(p.ValueLens[i]); err != nil {
			return nil, err
		}
		pos, err := take(int32(p.PositionLens[i]))
		if err != nil {
			return nil, err
		}
		if len(pos) > 0 {
			r.Position = pos
		}
		if ts := p.TimestampNanos[i]; ts != 0 {
			r.Timestamp = time.Unix(0, ts).UTC()
		}
		if len(p.Offsets) > 0 {
			ti := p.TopicIndex[i]
			if int(ti) >= len(p.Topics) {
				return nil, fmt.Errorf("packed batch: record %d names topic %d of %d", i, ti, len(p.Topics))
			}
			r.Topic, r.Partition, r.Offset = p.Topics[ti], p.Partitions[i], p.Offsets[i]
		}
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("packed batch: %d bytes left over", len(data))
	}
	return out, nil
}
