package kafka

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// maxReaders bounds a connection's open partition readers.
	maxReaders = 1024
	// marksTTL is how long a partition's log start and high watermark
	// are reused between fetches (they cost two reads from the leader).
	marksTTL = 200 * time.Millisecond
	// maxFetchWait bounds a client's MaxWaitMillis.
	maxFetchWait = 30 * time.Second
	// fetchRecords bounds the records one partition answers per fetch.
	fetchRecords = 1 << 16
	// maxAheadAnswer bounds one read-ahead answer; maxAheadBytes all of
	// them (beyond it, fetches are answered without).
	maxAheadAnswer = 8 << 20
	maxAheadBytes  = 128 << 20
)

type tp struct {
	topic string
	part  int32
}

type cachedReader struct {
	r    *log.Reader
	next int64
	used time.Time
}

type marks struct {
	first, end int64
	at         time.Time
}

// readerCache keeps a connection's partition readers, positioned where its
// last fetch ended, so a consumer's next fetch continues without a seek.
// Only the connection's writer goroutine uses it, and a read-ahead while
// the writer has not taken it.
type readerCache struct {
	l       *log.Log
	readers map[tp]*cachedReader
	marks   map[tp]marks
	ahead   *ahead
}

// ahead is the answer to the fetch a consumer will send next, read and
// encoded while the client decodes the last one. A consumer has one fetch
// in flight per broker and sends the next only after decoding the answer,
// so without it listener and client take turns; with it the listener's
// share overlaps the client's (+30 % consumed records/s, docs/benchmarks.md).
type ahead struct {
	parts map[tp]*fetchPart // by partition: clients rotate their order between fetches
	held  int64             // of Server.aheadBytes
	done  chan struct{}     // closed when parts are read; until then they are the goroutine's
}

// takeAhead waits for the read-ahead, if any, and hands it over: the
// readers are the caller's again.
func (c *readerCache) takeAhead(s *Server) *ahead {
	a := c.ahead
	if a == nil {
		return nil
	}
	c.ahead = nil
	<-a.done
	s.aheadBytes.Release(a.held)
	return a
}

// matches reports whether a holds the answer for parts: the same
// partitions from the same offsets with the same limits, read without error.
func (a *ahead) matches(parts []*fetchPart) bool {
	if a == nil || len(a.parts) != len(parts) {
		return false
	}
	for _, fp := range parts {
		p := a.parts[fp.k]
		if p == nil || p.offset != fp.offset || p.maxBytes != fp.maxBytes || p.rp.ErrorCode != 0 {
			return false
		}
	}
	return true
}

func newReaderCache(l *log.Log) *readerCache {
	return &readerCache{l: l, readers: map[tp]*cachedReader{}, marks: map[tp]marks{}}
}

func (c *readerCache) close(s *Server) {
	c.takeAhead(s)
	for k, cr := range c.readers {
		_ = cr.r.Close()
		delete(c.readers, k)
	}
}

// reader returns the partition's reader positioned at offset.
func (c *readerCache) reader(ctx context.Context, k tp, offset int64) (*cachedReader, error) {
	if cr, ok := c.readers[k]; ok {
		cr.used = time.Now()
		if cr.next == offset {
			return cr, nil
		}
		if err := cr.r.Seek(ctx, offset); err != nil {
			_ = cr.r.Close()
			delete(c.readers, k)
			return nil, err
		}
		cr.next = offset
		return cr, nil
	}
	if len(c.readers) >= maxReaders {
		var oldest tp
		var at time.Time
		for k, cr := range c.readers {
			if at.IsZero() || cr.used.Before(at) {
				oldest, at = k, cr.used
			}
		}
		_ = c.readers[oldest].r.Close()
		delete(c.readers, oldest)
	}
	r, err := c.l.NewReader(ctx, k.topic, k.part, offset)
	if err != nil {
		return nil, err
	}
	cr := &cachedReader{r: r, next: offset, used: time.Now()}
	c.readers[k] = cr
	return cr, nil
}

// offsets returns the partition's log start and high watermark, reused
// for marksTTL.
func (c *readerCache) offsets(ctx context.Context, k tp) (int64, int64, error) {
	if m, ok := c.marks[k]; ok && time.Since(m.at) < marksTTL {
		return m.first, m.end, nil
	}
	first, end, err := c.l.PartitionOffsets(ctx, k.topic, k.part)
	if err != nil {
		return 0, 0, err
	}
	if len(c.marks) >= maxReaders {
		clear(c.marks)
	}
	c.marks[k] = marks{first, end, time.Now()}
	return first, end, nil
}

// fetchPart is one partition of a Fetch being answered.
type fetchPart struct {
	k        tp
	offset   int64
	maxBytes int
	cr       *cachedReader
	chunks   [][]log.Record // records read, each chunk consecutive, chunks in order
	size     int
	rp       *kmsg.FetchResponseTopicPartition
	enc      []byte // the record batches encoded so far
	encN     int    // records in enc
}

// encode appends the records taken to enc, one record batch per chunk,
// and moves the reader's next offset past them.
func (fp *fetchPart) encode() {
	if len(fp.chunks) == 0 {
		return
	}
	if fp.enc == nil {
		fp.enc = getBatchBuf(fp.size + fp.size/8 + 128*len(fp.chunks))
	}
	for _, c := range fp.chunks {
		fp.enc = appendBatch(fp.enc, c) // one batch per chunk: each is consecutive
		fp.encN += len(c)
	}
	last := fp.chunks[len(fp.chunks)-1]
	fp.cr.next = last[len(last)-1].Offset + 1
	fp.chunks = nil
}

// batchBufs recycles the record batches of written fetch answers: an
// answer is megabytes, and a fresh buffer is zeroed before it is encoded
// into and then collected, work that sits between a consumer's fetches.
var batchBufs sync.Pool

func getBatchBuf(n int) []byte {
	if b, ok := batchBufs.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]byte, 0, n)
}

// putBatchBufs recycles the record batches of an answer once it is written
// (the connection's buffer holds a copy).
func putBatchBufs(resp *kmsg.FetchResponse) {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if b := resp.Topics[i].Partitions[j].RecordBatches; cap(b) > 0 {
				batchBufs.Put(&b)
			}
		}
	}
}

// fetch answers a Fetch in the writer goroutine: what is ready now, or, when
// that is less than MinBytes, waits up to MaxWait for any partition to get
// records (long poll).
func (s *Server) fetch(cn *conn, req *kmsg.FetchRequest) func() kmsg.Response {
	return func() kmsg.Response {
		start := time.Now()
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		ctx, cancel := context.WithTimeout(cn.ctx, maxFetchWait+10*time.Second)
		defer cancel()
		budget := int(req.MaxBytes)
		if req.Version < 3 || budget <= 0 {
			budget = 50 << 20
		}
		parts := answerParts(req, resp)
		maxAnswer := budget
		total := s.position(ctx, cn, parts)
		budget -= total
		if total == 0 {
			total = s.sweep(ctx, parts, &budget)
		}
		wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, maxFetchWait) - time.Since(start)
		if total < int(req.MinBytes) && wait > 0 && budget > 0 {
			total += s.longPoll(ctx, parts, budget, wait)
		}
		n := 0
		for _, fp := range parts {
			if fp.cr == nil {
				continue
			}
			fp.encode()
			if fp.encN > 0 {
				fp.rp.RecordBatches = fp.enc
				n += fp.encN
			}
			first, end, err := cn.fetch.offsets(ctx, fp.k)
			if err != nil {
				fp.rp.ErrorCode = errCode(err)
				continue
			}
			end = max(end, fp.cr.next)
			fp.rp.HighWatermark, fp.rp.LastStableOffset, fp.rp.LogStartOffset = end, end, min(first, end)
		}
		if n > 0 {
			s.m.records.WithLabelValues("fetched").Add(float64(n))
			s.readAhead(cn, parts, min(maxAnswer, maxAheadAnswer))
		}
		return resp
	}
}

// answerParts lays out the answer's partitions, empty, and what each of
// them asks for.
func answerParts(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) []*fetchPart {
	var parts []*fetchPart
	for _, t := range req.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.RecordBatches = []byte{} // empty, never null
			rt.Partitions = append(rt.Partitions, rp)
			maxBytes := int(p.PartitionMaxBytes)
			if maxBytes <= 0 {
				maxBytes = 1 << 20 // Kafka's max.partition.fetch.bytes default
			}
			parts = append(parts, &fetchPart{k: tp{t.Topic, p.Partition}, offset: p.FetchOffset, maxBytes: maxBytes})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	i := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			parts[i].rp = &resp.Topics[ti].Partitions[pi]
			i++
		}
	}
	return parts
}

// position gives each partition this server leads its reader at the
// fetch's offset: the read-ahead's, with what it read, when that is the
// answer to this fetch. It returns the bytes read ahead.
func (s *Server) position(ctx context.Context, cn *conn, parts []*fetchPart) int {
	pre := cn.fetch.takeAhead(s)
	switch {
	case pre == nil:
	case pre.matches(parts):
		s.m.readAhead.WithLabelValues("used").Inc()
	default:
		s.m.readAhead.WithLabelValues("discarded").Inc()
		pre = nil
	}
	v := s.cl.current()
	total := 0
	for _, fp := range parts {
		if !v.leads(fp.k.topic, fp.k.part) {
			notLeader(v, fp)
			continue
		}
		if pre != nil {
			a := pre.parts[fp.k]
			fp.cr, fp.enc, fp.encN, fp.size = a.cr, a.enc, a.encN, a.size
			total += a.size
			continue
		}
		cr, err := cn.fetch.reader(ctx, fp.k, fp.offset)
		if err != nil {
			fetchError(fp, err)
			continue
		}
		fp.cr = cr
	}
	return total
}

// readAhead starts reading the answer to the fetch that follows parts'
// answer, when every partition answered without error and the server's
// read-ahead bytes allow.
func (s *Server) readAhead(cn *conn, parts []*fetchPart, budget int) {
	for _, fp := range parts {
		if fp.cr == nil || fp.rp.ErrorCode != 0 {
			return
		}
	}
	if !s.aheadBytes.TryAcquire(int64(budget)) {
		return
	}
	a := &ahead{parts: make(map[tp]*fetchPart, len(parts)), held: int64(budget), done: make(chan struct{})}
	next := make([]*fetchPart, 0, len(parts))
	for _, fp := range parts {
		p := &fetchPart{k: fp.k, offset: fp.cr.next, maxBytes: fp.maxBytes, cr: fp.cr, rp: &kmsg.FetchResponseTopicPartition{}}
		a.parts[fp.k] = p
		next = append(next, p)
	}
	cn.fetch.ahead = a
	go func() {
		defer close(a.done)
		s.sweep(cn.ctx, next, &budget)
		for _, p := range next {
			p.encode()
		}
	}()
}

// sweep takes what every partition has ready, within the byte budgets.
func (s *Server) sweep(ctx context.Context, parts []*fetchPart, budget *int) int {
	total := 0
	for _, fp := range parts {
		// What the reader has decoded comes a stored message at a time:
		// take messages until the partition's bytes are reached or nothing
		// more is ready, so a consumer far behind gets full answers.
		for fp.cr != nil && *budget > 0 && fp.size < fp.maxBytes && fp.rp.ErrorCode == 0 {
			recs, err := fp.cr.r.Fetch(ctx, fetchRecords, min(fp.maxBytes-fp.size, *budget), 0)
			if err != nil {
				s.readError(fp, err)
				break
			}
			if len(recs) == 0 {
				break
			}
			n := fp.take(recs)
			total += n
			*budget -= n
		}
	}
	return total
}

// take adds a chunk of consecutive records and returns its size.
func (fp *fetchPart) take(recs []log.Record) int {
	size := 0
	for _, r := range recs {
		size += recordSize(r)
	}
	fp.chunks = append(fp.chunks, recs)
	fp.size += size
	return size
}

// longPoll waits up to wait for any partition to have records; the first
// to get some ends the wait of the others.
func (s *Server) longPoll(ctx context.Context, parts []*fetchPart, budget int, wait time.Duration) int {
	s.m.longPolls.Inc()
	defer s.m.longPolls.Dec()
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var wg sync.WaitGroup
	for _, fp := range parts {
		if fp.cr == nil || fp.rp.ErrorCode != 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, err := fp.cr.r.Fetch(pctx, fetchRecords, min(fp.maxBytes, budget), wait)
			if err != nil {
				if pctx.Err() == nil {
					s.readError(fp, err)
				}
				return
			}
			if len(recs) > 0 {
				fp.take(recs)
				cancel()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, fp := range parts {
		total += fp.size
	}
	return total
}

// notLeader answers a partition led by another broker, naming it (KIP-951)
// so the client need not wait for its next metadata.
func notLeader(v view, fp *fetchPart) {
	fp.rp.ErrorCode = kerr.NotLeaderForPartition.Code
	fp.rp.CurrentLeader.LeaderID = v.leader(fp.k.topic, fp.k.part).ID
	fp.rp.CurrentLeader.LeaderEpoch = v.epoch
}

// readError answers a partition whose reader failed.
func (s *Server) readError(fp *fetchPart, err error) {
	fp.rp.ErrorCode = errCode(err)
	s.logger.Debug("fetch", "topic", fp.k.topic, "partition", fp.k.part, "err", err)
}

// fetchError answers a partition that could not be positioned: an offset
// out of range carries the partition's range so the client can reset.
func fetchError(fp *fetchPart, err error) {
	fp.rp.ErrorCode = errCode(err)
	var re *log.OffsetRangeError
	if errors.As(err, &re) {
		fp.rp.ErrorCode = kerr.OffsetOutOfRange.Code
		fp.rp.LogStartOffset, fp.rp.HighWatermark, fp.rp.LastStableOffset = re.First, re.End, re.End
	}
}
