package kafka

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// batchHeaderLen is a v2 record batch's header: base offset (8), length
// (4), leader epoch (4), magic (1), crc (4), attributes (2), last offset
// delta (4), base and max timestamps (16), producer id (8) and epoch (2),
// base sequence (4), record count (4).
const batchHeaderLen = 61

// minRecordLen is the smallest encoded record: a varint each for length,
// timestamp and offset deltas, key, value and header count, and the
// attributes byte.
const minRecordLen = 7

// preallocRecords bounds the records allocated ahead of parsing them.
const preallocRecords = 4096

// batch is one decoded produce batch.
type batch struct {
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	transactional bool
	records       []log.Record
	bytes         int // the biggest record's size, for max.message.bytes
}

var (
	errCorrupt     = errors.New("corrupt record batch")
	errUnsupported = errors.New("unsupported record batch")
)

// decodeBatches parses a Produce partition's record batches (magic 2
// only), checking each CRC32C and decompressing into at most maxBytes.
func decodeBatches(raw []byte, maxBytes int) ([]batch, error) {
	var out []batch
	for len(raw) > 0 {
		if len(raw) < 12 {
			return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(raw))
		}
		length := int(int32(binary.BigEndian.Uint32(raw[8:12])))
		if length < batchHeaderLen-12 || length > len(raw)-12 {
			return nil, fmt.Errorf("%w: batch length %d of %d bytes left", errCorrupt, length, len(raw)-12)
		}
		one := raw[:12+length]
		raw = raw[12+length:]
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(one); err != nil {
			return nil, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		if rb.Magic != 2 {
			return nil, fmt.Errorf("%w: magic %d (only record batches v2)", errUnsupported, rb.Magic)
		}
		if crc32.Checksum(one[21:], crc32c) != uint32(rb.CRC) {
			return nil, fmt.Errorf("%w: CRC mismatch", errCorrupt)
		}
		if rb.Attributes&0x20 != 0 {
			continue // a control batch (transaction marker): no records
		}
		body, err := decompress(rb.Attributes&0x7, rb.Records, maxBytes)
		if err != nil {
			return nil, err
		}
		b := batch{producerID: rb.ProducerID, producerEpoch: rb.ProducerEpoch, baseSequence: rb.FirstSequence,
			transactional: rb.Attributes&0x10 != 0}
		if rb.NumRecords < 0 || int(rb.NumRecords) > len(body)/minRecordLen {
			return nil, fmt.Errorf("%w: %d records in %d bytes", errCorrupt, rb.NumRecords, len(body))
		}
		// The count is the client's claim: allocate for what parses, not
		// for what it says (a log.Record is 16 times a minimal record).
		b.records = make([]log.Record, 0, min(int(rb.NumRecords), preallocRecords))
		rd := kbin.Reader{Src: body}
		for range rb.NumRecords {
			rec, size, err := readRecord(&rd, rb.FirstTimestamp)
			if err != nil {
				return nil, err
			}
			b.bytes = max(b.bytes, size)
			b.records = append(b.records, rec)
		}
		if len(rd.Src) != 0 {
			return nil, fmt.Errorf("%w: %d bytes after the last record", errCorrupt, len(rd.Src))
		}
		out = append(out, b)
	}
	return out, nil
}

func readRecord(rd *kbin.Reader, baseTS int64) (log.Record, int, error) {
	length := rd.Varint()
	if !rd.Ok() || length < 0 || int(length) > len(rd.Src) {
		return log.Record{}, 0, fmt.Errorf("%w: record length %d", errCorrupt, length)
	}
	r := kbin.Reader{Src: rd.Span(int(length))}
	r.Int8() // attributes: unused
	tsDelta := r.Varlong()
	r.Varint() // offset delta: offsets are Braid's
	key := r.VarintBytes()
	value := r.VarintBytes()
	nh := r.VarintArrayLen()
	if !r.Ok() || nh < 0 || int(nh) > len(r.Src)/2+1 {
		return log.Record{}, 0, fmt.Errorf("%w: record fields", errCorrupt)
	}
	rec := log.Record{Key: key, Value: value, Partition: -1, Timestamp: time.UnixMilli(baseTS + tsDelta)}
	size := len(key) + len(value)
	if nh > 0 {
		rec.Headers = make([]log.Header, 0, nh)
		for range nh {
			k := r.VarintString()
			v := r.VarintBytes()
			rec.Headers = append(rec.Headers, log.Header{Key: k, Value: string(v)})
			size += len(k) + len(v)
		}
	}
	if !r.Ok() || len(r.Src) != 0 {
		return log.Record{}, 0, fmt.Errorf("%w: record fields", errCorrupt)
	}
	return rec, size, nil
}

// decompress returns a batch's records section, refusing more than limit
// bytes decompressed (a small bomb must not become a big allocation).
func decompress(codec int16, data []byte, limit int) ([]byte, error) {
	var rd io.Reader
	switch codec {
	case 0:
		return data, nil
	case 1:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", errCorrupt, err)
		}
		rd = zr
	case 2:
		return unsnappy(data, limit)
	case 3:
		rd = lz4.NewReader(bytes.NewReader(data))
	case 4:
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderMaxMemory(uint64(limit)+1), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", errCorrupt, err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("%w: compression codec %d", errUnsupported, codec)
	}
	out, err := io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", errCorrupt, err)
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

var errTooLarge = errors.New("batch too large")

// xerialHeader starts snappy data framed the way the Java client frames it.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// unsnappy decodes raw snappy or Xerial-framed snappy (Java, librdkafka).
func unsnappy(data []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(data, xerialHeader) {
		return snappyBlock(nil, data, limit)
	}
	if len(data) < 16 {
		return nil, fmt.Errorf("%w: xerial snappy header", errCorrupt)
	}
	data = data[16:]
	var out []byte
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, fmt.Errorf("%w: xerial snappy chunk", errCorrupt)
		}
		n := int(binary.BigEndian.Uint32(data))
		data = data[4:]
		if n < 0 || n > len(data) {
			return nil, fmt.Errorf("%w: xerial snappy chunk of %d bytes", errCorrupt, n)
		}
		var err error
		if out, err = snappyBlock(out, data[:n], limit-len(out)); err != nil {
			return nil, err
		}
		data = data[n:]
	}
	return out, nil
}

func snappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", errCorrupt, err)
	}
	if n > limit {
		return nil, errTooLarge
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := s2.Decode(dst[start:], src); err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", errCorrupt, err)
	}
	return dst, nil
}

// appendBatch encodes records (consecutive offsets of one partition) as
// one uncompressed v2 record batch onto dst.
func appendBatch(dst []byte, recs []log.Record) []byte {
	if len(recs) == 0 {
		return dst
	}
	start := len(dst)
	base := recs[0].Offset
	baseTS := recs[0].Timestamp.UnixMilli()
	maxTS := baseTS
	for _, r := range recs {
		maxTS = max(maxTS, r.Timestamp.UnixMilli())
	}
	dst = kbin.AppendInt64(dst, base)
	dst = kbin.AppendInt32(dst, 0) // length, below
	dst = kbin.AppendInt32(dst, 0) // partition leader epoch
	dst = kbin.AppendInt8(dst, 2)  // magic
	dst = kbin.AppendInt32(dst, 0) // crc, below
	crcFrom := len(dst)
	dst = kbin.AppendInt16(dst, 0) // attributes: uncompressed, CreateTime
	dst = kbin.AppendInt32(dst, int32(recs[len(recs)-1].Offset-base))
	dst = kbin.AppendInt64(dst, baseTS)
	dst = kbin.AppendInt64(dst, maxTS)
	dst = kbin.AppendInt64(dst, -1) // producer id
	dst = kbin.AppendInt16(dst, -1) // producer epoch
	dst = kbin.AppendInt32(dst, -1) // base sequence
	dst = kbin.AppendInt32(dst, int32(len(recs)))
	for _, r := range recs {
		dst = appendRecord(dst, r, base, baseTS)
	}
	binary.BigEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-12))
	binary.BigEndian.PutUint32(dst[start+17:], crc32.Checksum(dst[crcFrom:], crc32c))
	return dst
}

func appendRecord(dst []byte, r log.Record, base, baseTS int64) []byte {
	tsDelta := r.Timestamp.UnixMilli() - baseTS
	offDelta := int32(r.Offset - base)
	n := 1 + kbin.VarlongLen(tsDelta) + kbin.VarintLen(offDelta) + bytesLen(r.Key) + bytesLen(r.Value) +
		kbin.VarintLen(int32(len(r.Headers)))
	for _, h := range r.Headers {
		n += kbin.VarintLen(int32(len(h.Key))) + len(h.Key) + kbin.VarintLen(int32(len(h.Value))) + len(h.Value)
	}
	dst = kbin.AppendVarint(dst, int32(n))
	dst = append(dst, 0)
	dst = kbin.AppendVarlong(dst, tsDelta)
	dst = kbin.AppendVarint(dst, offDelta)
	dst = appendVarintBytes(dst, r.Key)
	dst = appendVarintBytes(dst, r.Value)
	dst = kbin.AppendVarint(dst, int32(len(r.Headers)))
	for _, h := range r.Headers {
		dst = kbin.AppendVarint(dst, int32(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = kbin.AppendVarint(dst, int32(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	return dst
}

func bytesLen(b []byte) int {
	if b == nil {
		return kbin.VarintLen(-1)
	}
	return kbin.VarintLen(int32(len(b))) + len(b)
}

func appendVarintBytes(dst, b []byte) []byte {
	if b == nil {
		return kbin.AppendVarint(dst, -1)
	}
	dst = kbin.AppendVarint(dst, int32(len(b)))
	return append(dst, b...)
}

// recordSize approximates a record's encoded size, for fetch byte limits.
func recordSize(r log.Record) int {
	n := len(r.Key) + len(r.Value) + 12
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 2
	}
	return n
}
