package kafka

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzLimit bounds decompression in FuzzDecodeBatches: small, so a bomb
// is caught quickly.
const fuzzLimit = 64 << 10

// FuzzDecodeBatches feeds decodeBatches any bytes: it must return records
// or an error, never panic, and never hold more than its input and limit
// allow. The seeds are client batches under every codec, cut, mangled and
// inflated. Seeds run in every `go test`; fuzz with
// `go test -run XXX -fuzz FuzzDecodeBatches ./runtime/kafka/`.
func FuzzDecodeBatches(f *testing.F) {
	rec := func(k, v string) kmsg.Record {
		r := kmsg.NewRecord()
		r.Key, r.Value = []byte(k), []byte(v)
		r.Headers = []kmsg.Header{{Key: "h", Value: []byte(v)}}
		return r
	}
	for _, c := range codecs {
		good := kmsgBatch(f, c.name, 1_700_000_000_000, []kmsg.Record{rec("a", "one"), rec("", "two"), rec("b", "")}, nil)
		f.Add(good)
		f.Add(good[:len(good)/2])
		bad := slices.Clone(good)
		bad[17] ^= 0xff
		f.Add(bad)
		f.Add(append(slices.Clone(good), good...))
		if c.name != "none" {
			f.Add(kmsgBatch(f, c.name, 1, nil, func(rb *kmsg.RecordBatch) {
				rb.NumRecords = 1 << 20
				rb.Records = compressRecords(f, c.name, make([]byte, 4*fuzzLimit))
			}))
		}
	}
	f.Add(appendBatch(nil, sampleRecords()))
	f.Add([]byte{})
	f.Add(make([]byte, batchHeaderLen))
	f.Fuzz(func(t *testing.T, raw []byte) {
		batches, err := decodeBatches(raw, fuzzLimit)
		if err != nil {
			if batches != nil {
				t.Fatalf("batches with error %v", err)
			}
			return
		}
		// Records alias the input or a decompressed body within the limit,
		// batch by batch; each takes at least 7 bytes of either.
		for _, b := range batches {
			if len(b.records) > (len(raw)+fuzzLimit)/7 {
				t.Fatalf("%d records from %d bytes", len(b.records), len(raw))
			}
			size := 0
			for _, r := range b.records {
				size += len(r.Key) + len(r.Value)
			}
			if size > len(raw)+fuzzLimit {
				t.Fatalf("%d bytes of records from %d bytes", size, len(raw))
			}
		}
	})
}

// TestDecodeBombAllocation checks that a batch claiming as many records as
// its decompressed bytes allocates in proportion to what it holds, not to
// what it claims.
func TestDecodeBombAllocation(t *testing.T) {
	raw := kmsgBatch(t, "zstd", 1, nil, func(rb *kmsg.RecordBatch) {
		rb.NumRecords = maxDecompressed / minRecordLen
		rb.Records = compressRecords(t, "zstd", make([]byte, maxDecompressed))
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := decodeBatches(raw, maxDecompressed); !errors.Is(err, errCorrupt) {
		t.Fatalf("err %v, want errCorrupt", err)
	}
	runtime.ReadMemStats(&after)
	// Decompressing 64 MiB costs two to five times that while io.ReadAll
	// grows (more under -race); one log.Record per claimed record would
	// add a GiB.
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte batch claiming %d records allocated %d MiB", len(raw), maxDecompressed/minRecordLen, got>>20)
	if got > 8*maxDecompressed {
		t.Fatalf("a %d-byte batch allocated %d MiB", len(raw), got>>20)
	}
}

// appendRequest frames req as a client does: size, key, version,
// correlation id, client id, header tags when flexible, body.
func appendRequest(dst []byte, corr int32, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt16(dst, req.Key())
	dst = kbin.AppendInt16(dst, req.GetVersion())
	dst = kbin.AppendInt32(dst, corr)
	dst = kbin.AppendNullableString(dst, kmsg.StringPtr("braid-test"))
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// wire is a raw Kafka connection: one request at a time, no client library
// in between.
type wire struct {
	c    net.Conn
	br   *bufio.Reader
	corr int32
}

func dialWire(t testing.TB, addr string) *wire {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &wire{c: c, br: bufio.NewReader(c)}
}

// roundTrip sends req and decodes its answer.
func (w *wire) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	w.corr++
	_ = w.c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := w.c.Write(appendRequest(nil, w.corr, req)); err != nil {
		return nil, err
	}
	frame, err := readFrame(w.br)
	if err != nil {
		return nil, err
	}
	rd := kbin.Reader{Src: frame}
	if corr := rd.Int32(); corr != w.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", corr, w.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		if tags := rd.Uvarint(); tags != 0 {
			return nil, fmt.Errorf("%d response header tags", tags)
		}
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("answer of %d bytes", n)
	}
	buf := make([]byte, n)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// apiVersionsWorks checks that the server answers a fresh connection.
func apiVersionsWorks(t testing.TB, addr string) {
	t.Helper()
	w := dialWire(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "braid-test", "1"
	resp, err := w.roundTrip(req)
	if err != nil {
		t.Fatalf("ApiVersions on a fresh connection: %v", err)
	}
	if r := resp.(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 || len(r.ApiKeys) != len(versions) {
		t.Fatalf("ApiVersions: error %d, %d keys", r.ErrorCode, len(r.ApiKeys))
	}
	_ = w.c.Close()
}

// requestSeeds are valid requests, framed, against topic.
func requestSeeds(topic string) [][]byte {
	var seeds [][]byte
	add := func(req kmsg.Request, version int16) {
		req.SetVersion(version)
		seeds = append(seeds, appendRequest(nil, 7, req))
	}
	for _, v := range []int16{0, 3} {
		r := kmsg.NewPtrApiVersionsRequest()
		r.ClientSoftwareName, r.ClientSoftwareVersion = "fuzz", "1"
		add(r, v)
	}
	for _, v := range []int16{1, 9, 12} {
		r := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		r.Topics = []kmsg.MetadataRequestTopic{mt}
		add(r, v)
	}
	batch := appendBatch(nil, sampleRecords()[:3])
	for _, v := range []int16{3, 9, 11} {
		r := kmsg.NewPtrProduceRequest()
		r.Acks, r.TimeoutMillis = -1, 5000
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = topic
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Partition, pp.Records = 0, batch
		pt.Partitions = []kmsg.ProduceRequestTopicPartition{pp}
		r.Topics = []kmsg.ProduceRequestTopic{pt}
		add(r, v)
	}
	for _, v := range []int16{4, 11, 12} {
		r := kmsg.NewPtrFetchRequest()
		r.MaxWaitMillis, r.MinBytes, r.MaxBytes = 10, 1, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 0, 0, 1<<20
		ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
		r.Topics = []kmsg.FetchRequestTopic{ft}
		add(r, v)
	}
	return seeds
}

// FuzzRequest writes any bytes to a running server's connection: the
// server answers or closes the connection, never panics (a panic in its
// goroutines ends the test binary), and answers a fresh connection after.
// The seeds are valid framed requests, pipelined, cut short and with bad
// sizes.
func FuzzRequest(f *testing.F) {
	l := testLog(f)
	s := testServer(f, l)
	topic := newTopic(f, l, 2)
	seeds := requestSeeds(topic)
	for _, seed := range seeds {
		f.Add(seed)
		f.Add(seed[:len(seed)-3]) // truncated body
		f.Add(seed[4:])           // no size
		bad := slices.Clone(seed) // a size beyond the frame
		bad[3] += 9
		f.Add(bad)
		huge := slices.Clone(seed) // a size over the maximum
		binary.BigEndian.PutUint32(huge, maxFrame+1)
		f.Add(huge)
		small := slices.Clone(seed)
		binary.BigEndian.PutUint32(small, 7)
		f.Add(small)
	}
	f.Add(slices.Concat(seeds...))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(data); err == nil {
			_ = c.(*net.TCPConn).CloseWrite()
			// Whatever comes back is framed; the server ends the
			// connection once it answered what it read (a long poll may
			// outlast the deadline: that is not a failure).
			br := bufio.NewReader(c)
			for {
				if _, err := readFrame(br); err != nil {
					var ne net.Error
					if errors.Is(err, io.EOF) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
						break
					}
					t.Fatalf("answer: %v", err)
				}
			}
		}
		apiVersionsWorks(t, s.Addr())
	})
}

// TestReadBodyGrowsWithData checks that a request's size prefix alone does
// not allocate the size it claims: a client could hold maxFrame per
// connection by sending four bytes.
func TestReadBodyGrowsWithData(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := readBody(bytes.NewReader([]byte("only a little")), maxFrame); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want io.ErrUnexpectedEOF", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("a 13-byte request claiming %d MiB allocated %d MiB", maxFrame>>20, got>>20)
	}
	for _, n := range []int{0, 8, 1 << 20, 1<<20 + 1, 3 << 20} {
		want := bytes.Repeat([]byte{7}, n)
		got, err := readBody(bytes.NewReader(append(want, 1, 2, 3)), n)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %d bytes, err %v", n, len(got), err)
		}
	}
}
