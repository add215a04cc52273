package log

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
)

// NATS headers Braid sets on stored messages.
const (
	// HeaderBatch marks a batch message and holds its record count.
	HeaderBatch = "Braid-Batch"
	// HeaderKey holds a single-record message's key when it is printable text.
	HeaderKey = "Braid-Key"
	// HeaderKeyB64 holds a single-record message's key, base64, otherwise.
	HeaderKeyB64 = "Braid-Key-B64"
	// HeaderTime holds a single-record message's timestamp in Unix nanoseconds.
	HeaderTime = "Braid-Time"
	// HeaderProducer holds the producer id.
	HeaderProducer = "Braid-Producer"
	// HeaderMeta holds the batch's Meta headers, encoded as a URL query.
	HeaderMeta = "Braid-Meta"
	// HeaderOffset holds the offset of the message's first record in its
	// partition; the others follow densely (offset + index in the batch).
	HeaderOffset = "Braid-Offset"
)

// Batch payload formats (first byte).
const (
	formatRaw byte = 1
	formatS2  byte = 2
)

// maxBatchBytes is the encoded size at which a batch is split.
const maxBatchBytes = 1 << 20

// minCompress is the smallest body worth trying to compress.
const minCompress = 512

var errCorrupt = errors.New("corrupt record batch")

// recordSize estimates a record's encoded size.
func recordSize(r *Record) int {
	n := len(r.Key) + len(r.Value) + 3*binary.MaxVarintLen64
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 2*binary.MaxVarintLen32
	}
	return n
}

// bodyPool holds scratch buffers for batch bodies that get compressed.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, maxBatchBytes+64<<10); return &b }}

// encodeBatch encodes recs[idx[0]], recs[idx[1]], … (all of recs when idx
// is nil) as one batch payload, starting with the format byte. With
// compress it uses s2 when that saves at least an eighth.
func encodeBatch(recs []Record, idx []int, compress bool) []byte {
	n := len(recs)
	if idx != nil {
		n = len(idx)
	}
	at := func(i int) *Record {
		if idx != nil {
			return &recs[idx[i]]
		}
		return &recs[i]
	}
	size := 1 + 2*binary.MaxVarintLen64
	for i := range n {
		size += recordSize(at(i))
	}
	var body []byte
	var pooled *[]byte
	if compress && size >= minCompress {
		pooled = bodyPool.Get().(*[]byte)
		body = (*pooled)[:0]
		defer func() { *pooled = body[:0]; bodyPool.Put(pooled) }()
	}
	if cap(body) < size {
		body = make([]byte, 0, size)
	}
	body = append(body, formatRaw)
	body = binary.AppendUvarint(body, uint64(n))
	var base int64
	if n > 0 {
		base = at(0).Timestamp.UnixNano()
	}
	body = binary.AppendVarint(body, base)
	for i := range n {
		body = appendRecord(body, at(i), base)
	}
	if pooled == nil {
		return body
	}
	out := make([]byte, 1+s2.MaxEncodedLen(len(body)-1))
	c := s2.Encode(out[1:], body[1:])
	if len(c) < len(body)-len(body)/8 {
		out[0] = formatS2
		return out[: 1+len(c) : 1+len(c)]
	}
	return append([]byte(nil), body...)
}

func appendRecord(body []byte, r *Record, base int64) []byte {
	body = binary.AppendVarint(body, r.Timestamp.UnixNano()-base)
	body = appendBytes(body, r.Key)
	body = appendBytes(body, r.Value)
	body = binary.AppendUvarint(body, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		body = binary.AppendUvarint(body, uint64(len(h.Key)))
		body = append(body, h.Key...)
		body = binary.AppendUvarint(body, uint64(len(h.Value)))
		body = append(body, h.Value...)
	}
	return body
}

// appendBytes writes len+1 then the bytes, so nil (0) and empty (1) differ.
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

// decodeBatch appends the records of a batch body with index ≥ skip to dst.
// Keys and values alias data (or the decompressed copy). Partition and
// Offset are set from partition and the message's first offset.
func decodeBatch(dst []Record, data []byte, partition int32, first int64, skip int) ([]Record, error) {
	if len(data) == 0 {
		return dst, errCorrupt
	}
	switch data[0] {
	case formatRaw:
		data = data[1:]
	case formatS2:
		d, err := s2.Decode(nil, data[1:])
		if err != nil {
			return dst, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		data = d
	default:
		return dst, fmt.Errorf("%w: unknown format %d", errCorrupt, data[0])
	}
	d := decoder{b: data}
	n := d.uvarint()
	base := d.varint()
	if d.err != nil || n > MaxBatchRecords {
		return dst, errCorrupt
	}
	for i := 0; i < int(n); i++ {
		ts := base + d.varint()
		key := d.bytes()
		val := d.bytes()
		nh := d.uvarint()
		if d.err != nil || nh > uint64(len(d.b)) {
			return dst, errCorrupt
		}
		var hs []Header
		if nh > 0 {
			hs = make([]Header, nh)
			for j := range hs {
				hs[j].Key = string(d.raw())
				hs[j].Value = string(d.raw())
			}
		}
		if d.err != nil {
			return dst, errCorrupt
		}
		if i < skip {
			continue
		}
		dst = append(dst, Record{
			Key: key, Value: val, Headers: hs, Timestamp: time.Unix(0, ts),
			Partition: partition, Offset: first + int64(i),
		})
	}
	return dst, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// bytes reads a len+1 prefixed value (0: nil).
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	return d.take(n - 1)
}

// raw reads a len prefixed value.
func (d *decoder) raw() []byte { return d.take(d.uvarint()) }

// recordCount returns how many records a stored message holds.
func recordCount(h nats.Header) int {
	if v := h.Get(HeaderBatch); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// msgOffsets returns the first offset of a stored message and how many
// records it holds. A message without a Braid-Offset header was not written
// by Braid (a foreign publish into the topic's subjects) and has no offsets.
func msgOffsets(h nats.Header) (first int64, count int, err error) {
	v := h.Get(HeaderOffset)
	if v == "" {
		return 0, 0, errNoOffset
	}
	first, err = strconv.ParseInt(v, 10, 64)
	if err != nil || first < 0 {
		return 0, 0, fmt.Errorf("%w: bad %s header %q", errCorrupt, HeaderOffset, v)
	}
	return first, recordCount(h), nil
}

var errNoOffset = errors.New("message has no " + HeaderOffset + " header (not written through Braid)")

// encodeSingle builds a one-record message for a topic with batching off.
func encodeSingle(msg *nats.Msg, r *Record) error {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	for _, h := range r.Headers {
		if err := validHeader(h); err != nil {
			return err
		}
		msg.Header.Add(h.Key, h.Value)
	}
	if r.Key != nil {
		if printable(r.Key) {
			msg.Header.Set(HeaderKey, string(r.Key))
		} else {
			msg.Header.Set(HeaderKeyB64, base64.StdEncoding.EncodeToString(r.Key))
		}
	}
	msg.Header.Set(HeaderTime, strconv.FormatInt(r.Timestamp.UnixNano(), 10))
	msg.Data = r.Value
	return nil
}

func validHeader(h Header) error {
	if h.Key == "" || strings.ContainsAny(h.Key, ": \t\r\n") {
		return fmt.Errorf("header key %q: not a valid NATS header name (topic has batching off)", h.Key)
	}
	if strings.ContainsAny(h.Value, "\r\n") {
		return fmt.Errorf("header %q: value contains a line break (topic has batching off)", h.Key)
	}
	return nil
}

func printable(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return b[0] != ' ' && b[len(b)-1] != ' '
}

// decodeSingle reads a one-record message; stored is the message's store time.
func decodeSingle(h nats.Header, data []byte, partition int32, offset int64, stored time.Time) Record {
	r := Record{Partition: partition, Offset: offset, Timestamp: stored}
	if len(data) > 0 {
		r.Value = data
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == HeaderKey:
			r.Key = []byte(h.Get(k))
		case k == HeaderKeyB64:
			if b, err := base64.StdEncoding.DecodeString(h.Get(k)); err == nil {
				r.Key = b
			}
		case k == HeaderTime:
			if ns, err := strconv.ParseInt(h.Get(k), 10, 64); err == nil {
				r.Timestamp = time.Unix(0, ns)
			}
		case strings.HasPrefix(k, "Braid-"), strings.HasPrefix(k, "Nats-"):
		default:
			for _, v := range h[k] {
				r.Headers = append(r.Headers, Header{Key: k, Value: v})
			}
		}
	}
	return r
}
