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
// Only the connection's writer goroutine uses it.
type readerCache struct {
	l       *log.Log
	readers map[tp]*cachedReader
	marks   map[tp]marks
}

func newReaderCache(l *log.Log) *readerCache {
	return &readerCache{l: l, readers: map[tp]*cachedReader{}, marks: map[tp]marks{}}
}

func (c *readerCache) close() {
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
		// Position the readers of the partitions this server leads.
		v := s.cl.current()
		for _, fp := range parts {
			if !v.leads(fp.k.topic, fp.k.part) {
				notLeader(v, fp)
				continue
			}
			cr, err := cn.fetch.reader(ctx, fp.k, fp.offset)
			if err != nil {
				fetchError(fp, err)
				continue
			}
			fp.cr = cr
		}
		total := s.sweep(ctx, parts, &budget)
		wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, maxFetchWait) - time.Since(start)
		if total < int(req.MinBytes) && wait > 0 && budget > 0 {
			total += s.longPoll(ctx, parts, budget, wait)
		}
		n := 0
		for _, fp := range parts {
			if fp.cr == nil {
				continue
			}
			if len(fp.chunks) > 0 {
				buf := make([]byte, 0, fp.size+fp.size/8+128*len(fp.chunks))
				for _, c := range fp.chunks {
					buf = appendBatch(buf, c) // one batch per chunk: each is consecutive
					n += len(c)
				}
				last := fp.chunks[len(fp.chunks)-1]
				fp.rp.RecordBatches = buf
				fp.cr.next = last[len(last)-1].Offset + 1
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
		}
		return resp
	}
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
