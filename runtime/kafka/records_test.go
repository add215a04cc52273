package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// codecs are the ways a client compresses a batch's records, named for the
// tests; snappy comes raw (franz-go) or in Xerial framing (Java, librdkafka).
var codecs = []struct {
	name string
	attr int16
}{
	{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"snappy-xerial", 2}, {"lz4", 3}, {"zstd", 4},
}

// compressRecords compresses a records section with the libraries and
// framing franz-go uses (and, for xerial, the Java client's framing).
func compressRecords(t testing.TB, codec string, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case "none":
		return src
	case "gzip":
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "snappy":
		return s2.EncodeSnappy(nil, src)
	case "snappy-xerial":
		// Magic, version 1, compatible version 1, then length-prefixed
		// snappy blocks of at most 32 KiB input each.
		out := append([]byte(nil), xerialHeader...)
		out = binary.BigEndian.AppendUint32(out, 1)
		out = binary.BigEndian.AppendUint32(out, 1)
		for chunk := range slices.Chunk(src, 32<<10) {
			enc := s2.EncodeSnappy(nil, chunk)
			out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
			out = append(out, enc...)
		}
		return out
	case "lz4":
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(src, nil)
	default:
		t.Fatalf("codec %q", codec)
	}
	return buf.Bytes()
}

func codecAttr(t testing.TB, codec string) int16 {
	for _, c := range codecs {
		if c.name == codec {
			return c.attr
		}
	}
	t.Fatalf("codec %q", codec)
	return 0
}

// kmsgBatch encodes records the way a Kafka client does: kmsg's Record and
// RecordBatch, the records section compressed with codec, the length and
// CRC32C filled in; edit, when set, changes the batch before its CRC.
func kmsgBatch(t testing.TB, codec string, baseTS int64, recs []kmsg.Record, edit func(*kmsg.RecordBatch)) []byte {
	t.Helper()
	var body []byte
	maxDelta := int64(0)
	for i := range recs {
		r := &recs[i]
		r.OffsetDelta = int32(i)
		r.Length = 0
		r.Length = int32(len(r.AppendTo(nil)) - 1) // all but the length's own one-byte varint
		enc := r.AppendTo(nil)
		body = append(body, enc...)
		maxDelta = max(maxDelta, r.TimestampDelta64)
	}
	rb := kmsg.NewRecordBatch()
	rb.Magic = 2
	rb.Attributes = codecAttr(t, codec)
	rb.LastOffsetDelta = int32(len(recs) - 1)
	rb.FirstTimestamp, rb.MaxTimestamp = baseTS, baseTS+maxDelta
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = -1, -1, -1
	rb.NumRecords = int32(len(recs))
	rb.Records = compressRecords(t, codec, body)
	if edit != nil {
		edit(&rb)
	}
	rb.Length = int32(batchHeaderLen - 12 + len(rb.Records))
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32c))
	return out
}

// sampleRecords are records with the shapes that differ on the wire: null
// and empty keys and values, headers (with empty values), timestamps
// before and after the first.
func sampleRecords() []log.Record {
	ts := time.UnixMilli(1_700_000_000_123)
	return []log.Record{
		{Key: nil, Value: []byte("null key"), Timestamp: ts},
		{Key: []byte{}, Value: []byte("empty key"), Timestamp: ts.Add(time.Millisecond)},
		{Key: []byte("k"), Value: nil, Timestamp: ts.Add(-time.Hour)},
		{Key: []byte("k"), Value: []byte{}, Timestamp: ts.Add(24 * time.Hour)},
		{Key: []byte("h"), Value: []byte("v"), Timestamp: ts,
			Headers: []log.Header{{Key: "a", Value: "1"}, {Key: "", Value: ""}, {Key: "b", Value: ""}}},
		{Key: bytes.Repeat([]byte{0xff}, 300), Value: bytes.Repeat([]byte("x"), 70_000), Timestamp: ts.Add(time.Second)},
	}
}

// sameRecord compares what a batch carries: nil and empty stay distinct.
func sameRecord(t *testing.T, i int, got, want log.Record) {
	t.Helper()
	if (got.Key == nil) != (want.Key == nil) || !bytes.Equal(got.Key, want.Key) {
		t.Errorf("record %d: key %q (nil %v), want %q (nil %v)", i, got.Key, got.Key == nil, want.Key, want.Key == nil)
	}
	if (got.Value == nil) != (want.Value == nil) || !bytes.Equal(got.Value, want.Value) {
		t.Errorf("record %d: value of %d bytes (nil %v), want %d (nil %v)", i, len(got.Value), got.Value == nil, len(want.Value), want.Value == nil)
	}
	if !got.Timestamp.Equal(want.Timestamp) {
		t.Errorf("record %d: timestamp %v, want %v", i, got.Timestamp, want.Timestamp)
	}
	if len(got.Headers) != len(want.Headers) || (len(want.Headers) > 0 && !slices.Equal(got.Headers, want.Headers)) {
		t.Errorf("record %d: headers %v, want %v", i, got.Headers, want.Headers)
	}
	if got.Partition != -1 {
		t.Errorf("record %d: partition %d, want -1 (the request's partition sets it)", i, got.Partition)
	}
}

// TestBatchRoundTrip encodes records with appendBatch (what Fetch sends),
// checks the batch with kmsg's own parser and decodes it with decodeBatches
// (what Produce reads).
func TestBatchRoundTrip(t *testing.T) {
	t.Parallel()
	all := sampleRecords()
	for _, tc := range []struct {
		name string
		recs []log.Record
	}{
		{"one", all[:1]},
		{"all", all},
		{"null and empty", all[:4]},
		{"headers", all[4:5]},
		{"large", all[5:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs := slices.Clone(tc.recs)
			for i := range recs {
				recs[i].Offset = 1000 + int64(i)
			}
			raw := appendBatch([]byte("prefix"), recs)[len("prefix"):]

			// kmsg's view: length, CRC32C over attributes onwards, fields.
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(raw); err != nil {
				t.Fatalf("kmsg cannot parse the batch: %v", err)
			}
			if int(rb.Length) != len(raw)-12 || rb.Magic != 2 || rb.FirstOffset != 1000 ||
				rb.NumRecords != int32(len(recs)) || rb.LastOffsetDelta != int32(len(recs)-1) {
				t.Fatalf("batch header %+v", rb)
			}
			if got := crc32.Checksum(raw[21:], crc32c); uint32(rb.CRC) != got {
				t.Fatalf("CRC %08x, kmsg's bytes sum to %08x", uint32(rb.CRC), got)
			}
			var maxTS int64
			for _, r := range recs {
				maxTS = max(maxTS, r.Timestamp.UnixMilli())
			}
			if rb.FirstTimestamp != recs[0].Timestamp.UnixMilli() || rb.MaxTimestamp != maxTS {
				t.Fatalf("timestamps first %d max %d, want %d %d", rb.FirstTimestamp, rb.MaxTimestamp, recs[0].Timestamp.UnixMilli(), maxTS)
			}
			if rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 || rb.Attributes != 0 {
				t.Fatalf("producer fields %d/%d/%d attributes %d, want -1s and 0", rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence, rb.Attributes)
			}
			body := rb.Records
			for i, want := range recs {
				var kr kmsg.Record
				n, k := binary.Varint(body)
				if k <= 0 || int(n) > len(body)-k {
					t.Fatalf("record %d: length varint", i)
				}
				if err := kr.ReadFrom(body[:k+int(n)]); err != nil {
					t.Fatalf("record %d: kmsg: %v", i, err)
				}
				body = body[k+int(n):]
				if kr.OffsetDelta != int32(i) || rb.FirstTimestamp+kr.TimestampDelta64 != want.Timestamp.UnixMilli() ||
					!bytes.Equal(kr.Key, want.Key) || (kr.Key == nil) != (want.Key == nil) || len(kr.Headers) != len(want.Headers) {
					t.Fatalf("record %d as kmsg reads it: %+v", i, kr)
				}
			}
			if len(body) != 0 {
				t.Fatalf("%d bytes after the last record", len(body))
			}

			got, err := decodeBatches(raw, maxDecompressed)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || len(got[0].records) != len(recs) {
				t.Fatalf("decoded %d batches", len(got))
			}
			if b := got[0]; b.producerID != -1 || b.transactional {
				t.Fatalf("producer %d transactional %v", b.producerID, b.transactional)
			}
			for i, r := range got[0].records {
				sameRecord(t, i, r, recs[i])
			}

			// Any flipped bit after the CRC field is caught.
			for _, at := range []int{21, 30, len(raw) / 2, len(raw) - 1} {
				bad := slices.Clone(raw)
				bad[at] ^= 0x10
				if _, err := decodeBatches(bad, maxDecompressed); !errors.Is(err, errCorrupt) {
					t.Fatalf("bit flipped at %d: err %v, want errCorrupt", at, err)
				}
			}
		})
	}
}

// TestDecodeClientBatches decodes batches as clients encode them, with every
// codec, one at a time and several in one partition's data.
func TestDecodeClientBatches(t *testing.T) {
	t.Parallel()
	want := sampleRecords()
	baseTS := want[0].Timestamp.UnixMilli()
	krecs := func() []kmsg.Record {
		var out []kmsg.Record
		for _, r := range want {
			kr := kmsg.NewRecord()
			kr.Key, kr.Value, kr.TimestampDelta64 = r.Key, r.Value, r.Timestamp.UnixMilli()-baseTS
			for _, h := range r.Headers {
				kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: []byte(h.Value)})
			}
			out = append(out, kr)
		}
		return out
	}
	var all []byte
	for i, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			raw := kmsgBatch(t, c.name, baseTS, krecs(), func(rb *kmsg.RecordBatch) {
				rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = 77, 3, int32(100*i)
			})
			all = append(all, raw...)
			got, err := decodeBatches(raw, maxDecompressed)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d batches", len(got))
			}
			b := got[0]
			if b.producerID != 77 || b.producerEpoch != 3 || b.baseSequence != int32(100*i) {
				t.Fatalf("producer %d epoch %d sequence %d", b.producerID, b.producerEpoch, b.baseSequence)
			}
			if b.bytes != 300+70_000 {
				t.Fatalf("largest record %d bytes, want %d", b.bytes, 300+70_000)
			}
			if len(b.records) != len(want) {
				t.Fatalf("%d records, want %d", len(b.records), len(want))
			}
			for i, r := range b.records {
				sameRecord(t, i, r, want[i])
			}
		})
	}
	t.Run("every codec in one partition", func(t *testing.T) {
		got, err := decodeBatches(all, maxDecompressed)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(codecs) {
			t.Fatalf("%d batches, want %d", len(got), len(codecs))
		}
		for i, b := range got {
			if b.baseSequence != int32(100*i) || len(b.records) != len(want) {
				t.Fatalf("batch %d: sequence %d, %d records", i, b.baseSequence, len(b.records))
			}
		}
	})
}

// TestDecodeBadBatches refuses what a client must not send, with the error
// Produce maps to a Kafka code.
func TestDecodeBadBatches(t *testing.T) {
	t.Parallel()
	rec := func() []kmsg.Record {
		r := kmsg.NewRecord()
		r.Key, r.Value = []byte("k"), []byte("v")
		return []kmsg.Record{r}
	}
	good := kmsgBatch(t, "none", 1, rec(), nil)
	zeros := make([]byte, 1<<20)
	bomb := func(codec string) []byte {
		// A megabyte of zeros: a few hundred bytes compressed; the records
		// claim a count that fits the decompressed size.
		return kmsgBatch(t, codec, 1, nil, func(rb *kmsg.RecordBatch) {
			rb.NumRecords = 1
			rb.Records = compressRecords(t, codec, zeros)
		})
	}
	cases := []struct {
		name  string
		raw   []byte
		limit int
		want  error
	}{
		{"truncated header", good[:40], maxDecompressed, errCorrupt},
		{"truncated records", good[:len(good)-1], maxDecompressed, errCorrupt},
		{"trailing bytes", append(slices.Clone(good), 0, 0, 0), maxDecompressed, errCorrupt},
		{"negative length", func() []byte {
			b := slices.Clone(good)
			binary.BigEndian.PutUint32(b[8:], 0x80000000)
			return b
		}(), maxDecompressed, errCorrupt},
		{"bad CRC", func() []byte {
			b := slices.Clone(good)
			b[17] ^= 1
			return b
		}(), maxDecompressed, errCorrupt},
		{"magic 1", kmsgBatch(t, "none", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Magic = 1 }), maxDecompressed, errUnsupported},
		{"codec 5", kmsgBatch(t, "none", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Attributes = 5 }), maxDecompressed, errUnsupported},
		{"more records than claimed", kmsgBatch(t, "none", 1, rec(), func(rb *kmsg.RecordBatch) { rb.NumRecords = 0 }), maxDecompressed, errCorrupt},
		{"fewer records than claimed", kmsgBatch(t, "none", 1, rec(), func(rb *kmsg.RecordBatch) { rb.NumRecords = 2 }), maxDecompressed, errCorrupt},
		{"negative record count", kmsgBatch(t, "none", 1, rec(), func(rb *kmsg.RecordBatch) { rb.NumRecords = -1 }), maxDecompressed, errCorrupt},
		{"huge record count", kmsgBatch(t, "none", 1, rec(), func(rb *kmsg.RecordBatch) { rb.NumRecords = 1 << 30 }), maxDecompressed, errCorrupt},
		{"garbage gzip", kmsgBatch(t, "gzip", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Records = []byte("not gzip") }), maxDecompressed, errCorrupt},
		{"garbage lz4", kmsgBatch(t, "lz4", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Records = []byte("not lz4") }), maxDecompressed, errCorrupt},
		{"garbage zstd", kmsgBatch(t, "zstd", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Records = []byte("not zstd") }), maxDecompressed, errCorrupt},
		{"garbage snappy", kmsgBatch(t, "snappy", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Records = []byte{0x05, 0xff, 0xff} }), maxDecompressed, errCorrupt},
		{"snappy claiming 256 MiB", kmsgBatch(t, "snappy", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Records = []byte{0x80, 0x80, 0x80, 0x80, 0x01} }), maxDecompressed, errTooLarge},
		{"short xerial", kmsgBatch(t, "snappy", 1, rec(), func(rb *kmsg.RecordBatch) { rb.Records = slices.Clone(xerialHeader) }), maxDecompressed, errCorrupt},
		{"xerial chunk past the end", kmsgBatch(t, "snappy", 1, rec(), func(rb *kmsg.RecordBatch) {
			rb.Records = append(compressRecords(t, "snappy-xerial", []byte("abc")), 0, 0, 1, 0, 1)
		}), maxDecompressed, errCorrupt},
	}
	for _, c := range codecs {
		if c.name != "none" {
			cases = append(cases, struct {
				name  string
				raw   []byte
				limit int
				want  error
			}{c.name + " bomb", bomb(c.name), 64 << 10, errTooLarge})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeBatches(tc.raw, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if got != nil {
				t.Fatalf("%d batches with an error", len(got))
			}
		})
	}
}

// TestDecodeControlBatch skips transaction markers: they carry no records.
func TestDecodeControlBatch(t *testing.T) {
	t.Parallel()
	r := kmsg.NewRecord()
	r.Key, r.Value = []byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 0}
	raw := kmsgBatch(t, "none", 1, []kmsg.Record{r}, func(rb *kmsg.RecordBatch) { rb.Attributes = 0x20 | 0x10 })
	raw = append(raw, appendBatch(nil, []log.Record{{Value: []byte("data"), Timestamp: time.UnixMilli(5)}})...)
	got, err := decodeBatches(raw, maxDecompressed)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].records[0].Value) != "data" {
		t.Fatalf("got %+v, want the data batch only", got)
	}
}

// BenchmarkDecodeBatches decodes a client's batch of 100 records per codec.
func BenchmarkDecodeBatches(b *testing.B) {
	var recs []kmsg.Record
	for i := range 100 {
		r := kmsg.NewRecord()
		r.Key = []byte("key-" + strconv.Itoa(i%10))
		r.Value = bytes.Repeat([]byte("value "+strconv.Itoa(i)), 20)
		recs = append(recs, r)
	}
	for _, c := range codecs {
		raw := kmsgBatch(b, c.name, 1, slices.Clone(recs), nil)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := decodeBatches(raw, maxDecompressed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
