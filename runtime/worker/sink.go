package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
)

// fetched is one batch read from a partition, turned into sdk records.
type fetched struct {
	tp    sdk.TopicPartition
	recs  []sdk.Record
	errs  map[int]error // records whose value could not be decoded
	size  int           // value bytes
	last  int64         // offset of the last record read
	count int           // records read
}

// Sink tuning: how much to buffer before a flush and how long at most.
const (
	fetchMaxBytes   = 4 << 20
	fetchWait       = 500 * time.Millisecond
	flushMaxRecords = 65536
	flushMaxAge     = 100 * time.Millisecond
)

// assignments returns the partitions task id of n reads.
func (c *connector) assignments(ctx context.Context, id int) ([]sdk.TopicPartition, error) {
	var all []sdk.TopicPartition
	for _, topic := range c.cfg.Topics {
		if err := c.ensureTopic(ctx, topic, 1); err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		info, err := c.w.log.Topic(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range info.Partitions {
			all = append(all, sdk.TopicPartition{Topic: topic, Partition: p.Partition})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Topic != all[j].Topic {
			return all[i].Topic < all[j].Topic
		}
		return all[i].Partition < all[j].Partition
	})
	var mine []sdk.TopicPartition
	for i, tp := range all {
		if i%c.cfg.Tasks == id {
			mine = append(mine, tp)
		}
	}
	return mine, nil
}

// startOffsets returns where each partition resumes: after the larger of the
// group's committed offset and what the sink reports it already wrote.
func (c *connector) startOffsets(ctx context.Context, sink sdk.Sink, parts []sdk.TopicPartition) (map[sdk.TopicPartition]int64, error) {
	start := map[sdk.TopicPartition]int64{}
	committed := map[string]map[int32]int64{}
	for _, tp := range parts {
		if _, ok := committed[tp.Topic]; !ok {
			m, err := c.w.log.CommittedOffsets(ctx, c.cfg.Group, tp.Topic)
			if err != nil {
				return nil, fmt.Errorf("committed offsets of %s: %w", tp.Topic, err)
			}
			committed[tp.Topic] = m
		}
		if off, ok := committed[tp.Topic][tp.Partition]; ok {
			start[tp] = off + 1
		} else if c.cfg.Start == "latest" {
			start[tp] = log.Latest
		} else {
			start[tp] = log.Earliest
		}
	}
	if tr, ok := sink.(sdk.OffsetTracker); ok {
		written, err := tr.WrittenOffsets(ctx, parts)
		if err != nil {
			return nil, fmt.Errorf("offsets written by the sink: %w", err)
		}
		for tp, off := range written {
			if cur, ok := start[tp]; ok && (cur < 0 || off+1 > cur) {
				start[tp] = off + 1
			}
		}
	}
	return start, nil
}

func (c *connector) runSink(ctx context.Context, t *task) error {
	proc, err := c.newProcessor(t.id)
	if err != nil {
		return err
	}
	cfg, err := c.plugin.Spec.Validate(c.cfg.Config)
	if err != nil {
		return sdk.Fatal(err)
	}
	sink, err := c.plugin.NewSink(cfg, c.env(t))
	if err != nil {
		return sdk.Fatal(fmt.Errorf("create sink: %w", err))
	}
	if err := sink.Open(ctx); err != nil {
		return fmt.Errorf("open sink: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sink.Close(cctx); err != nil {
			c.w.logger.Warn("close sink", "connector", c.cfg.Name, "task", t.id, "err", err)
		}
	}()
	parts, err := c.assignments(ctx, t.id)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		c.w.logger.Info("sink task has no partitions to read", "connector", c.cfg.Name, "task", t.id)
		<-ctx.Done()
		return nil
	}
	start, err := c.startOffsets(ctx, sink, parts)
	if err != nil {
		return err
	}
	rctx, cancelReaders := context.WithCancel(ctx)
	defer cancelReaders()
	ch := make(chan fetched, 2*len(parts))
	errCh := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, tp := range parts {
		r, err := c.w.log.NewReader(rctx, tp.Topic, tp.Partition, start[tp])
		var re *log.OffsetRangeError
		if errors.As(err, &re) && start[tp] < re.First {
			// Retention removed records the group never processed: they are
			// gone, so resume at the first one stored (Kafka's
			// auto.offset.reset=earliest), saying how many were skipped.
			c.w.logger.Warn("sink resumes after records removed by retention", "connector", c.cfg.Name, "task", t.id,
				"topic", tp.Topic, "partition", tp.Partition, "wanted_offset", start[tp], "first_offset", re.First,
				"removed", re.First-start[tp])
			c.w.metrics.Errors.WithLabelValues(c.cfg.Name, "retention").Inc()
			r, err = c.w.log.NewReader(rctx, tp.Topic, tp.Partition, re.First)
		}
		if err != nil {
			return fmt.Errorf("read %s/%d: %w", tp.Topic, tp.Partition, err)
		}
		wg.Add(1)
		_, ahead := sink.(sdk.FieldsSink)
		go func() {
			defer wg.Done()
			defer r.Close()
			c.fetchLoop(rctx, tp, r, proc, ahead, ch, errCh)
		}()
	}
	defer wg.Wait()
	defer cancelReaders()
	s := &sinkState{c: c, t: t, sink: sink, proc: proc, dlq: c.deadLetters(t), offsets: map[sdk.TopicPartition]int64{}}
	defer s.dlq.close(context.Background())
	return s.loop(ctx, ch, errCh)
}

func (c *connector) fetchLoop(ctx context.Context, tp sdk.TopicPartition, r *log.Reader, proc *processor, ahead bool,
	ch chan<- fetched, errCh chan<- error) {
	dec := proc.lazyDecoder(ctx, tp.Topic)
	for {
		if err := c.waitUnpaused(ctx); err != nil {
			return
		}
		lrs, err := r.Fetch(ctx, c.cfg.BatchSize, fetchMaxBytes, fetchWait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			errCh <- fmt.Errorf("read %s/%d: %w", tp.Topic, tp.Partition, err)
			return
		}
		if len(lrs) == 0 {
			continue
		}
		f := fetched{tp: tp, recs: make([]sdk.Record, len(lrs)), last: lrs[len(lrs)-1].Offset, count: len(lrs)}
		for i, lr := range lrs {
			f.recs[i] = fromLog(tp.Topic, lr)
			f.size += len(lr.Value)
			if proc.lazy {
				f.recs[i].SetDecoder(dec)
				if ahead {
					_, err = f.recs[i].Structured()
				}
			}
			if err != nil {
				if f.errs == nil {
					f.errs = map[int]error{}
				}
				f.errs[i], err = err, nil
			}
		}
		select {
		case ch <- f:
		case <-ctx.Done():
			return
		}
	}
}

// sinkState is the write side of a sink task.
type sinkState struct {
	c       *connector
	t       *task
	sink    sdk.Sink
	proc    *processor
	dlq     *deadLetters
	offsets map[sdk.TopicPartition]int64 // last offset written, not yet committed
	pending int                          // records written since the last flush
	since   time.Time                    // first unflushed write
	stamps  []time.Time                  // timestamps of a sample of unflushed records
}

func (s *sinkState) loop(ctx context.Context, ch <-chan fetched, errCh <-chan error) error {
	tick := time.NewTicker(flushMaxAge / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.flush(context.Background())
		case err := <-errCh:
			return err
		case <-tick.C:
			if s.pending > 0 && time.Since(s.since) >= flushMaxAge {
				if err := s.flush(ctx); err != nil {
					return err
				}
			}
		case f := <-ch:
			if err := s.write(ctx, f); err != nil {
				return err
			}
			// Records reach the sink at once; making them durable (and
			// committing offsets) waits for enough of them or for flushMaxAge,
			// so a busy sink is not one fsync per batch.
			if s.pending >= flushMaxRecords || time.Since(s.since) >= flushMaxAge {
				if err := s.flush(ctx); err != nil {
					return err
				}
			}
		}
	}
}

func (s *sinkState) write(ctx context.Context, f fetched) error {
	c := s.c
	recs := f.recs[:0]
	for i := range f.recs {
		rec := f.recs[i]
		err := f.errs[i]
		if err == nil {
			err = s.proc.decode(ctx, &rec)
		}
		if err != nil {
			if derr := s.dlq.send(ctx, &rec, StageConvert, err); derr != nil {
				return derr
			}
			continue
		}
		offset := rec.Offset
		keep, err := s.proc.apply(ctx, &rec)
		if err != nil {
			// A route may have renamed the topic before the failing step.
			rec.Topic, rec.Partition, rec.Offset = f.tp.Topic, f.tp.Partition, offset
			if derr := s.dlq.send(ctx, &rec, StageTransform, err); derr != nil {
				return derr
			}
			continue
		}
		if keep {
			recs = append(recs, rec)
		}
	}
	c.w.metrics.RecordsIn.WithLabelValues(c.cfg.Name).Add(float64(f.count))
	c.w.metrics.BytesIn.WithLabelValues(c.cfg.Name).Add(float64(f.size))
	if len(recs) > 0 {
		if err := s.writeWithRetry(ctx, recs); err != nil {
			return err
		}
	}
	if s.pending == 0 {
		s.since = time.Now()
	}
	s.pending += f.count
	s.offsets[f.tp] = f.last
	step := max(1, len(recs)/16)
	for i := 0; i < len(recs); i += step {
		s.stamps = append(s.stamps, recs[i].Timestamp)
	}
	return nil
}

func (s *sinkState) writeWithRetry(ctx context.Context, recs []sdk.Record) error {
	c := s.c
	for attempt := 0; ; attempt++ {
		err := s.sink.Write(ctx, recs)
		var be *sdk.BatchError
		switch {
		case err == nil:
			c.w.metrics.RecordsOut.WithLabelValues(c.cfg.Name).Add(float64(len(recs)))
			return nil
		case errors.As(err, &be):
			for _, re := range be.Records {
				if re.Index < 0 || re.Index >= len(recs) {
					return fmt.Errorf("sink reported a failed record at index %d of %d: %w", re.Index, len(recs), re.Err)
				}
				if derr := s.dlq.send(ctx, &recs[re.Index], StageWrite, re.Err); derr != nil {
					return derr
				}
			}
			c.w.metrics.RecordsOut.WithLabelValues(c.cfg.Name).Add(float64(len(recs) - len(be.Records)))
			return nil
		case sdk.IsRetryable(err) && attempt < c.cfg.Errors.retries():
			wait := backoff(c.cfg.Errors.RetryBackoff, c.cfg.Errors.RetryMaxBackoff, attempt)
			c.w.metrics.Errors.WithLabelValues(c.cfg.Name, StageWrite).Inc()
			c.w.logger.Warn("sink write failed; retrying", "connector", c.cfg.Name, "task", s.t.id,
				"topic", recs[0].Topic, "partition", recs[0].Partition, "offset", recs[0].Offset, "err", err, "retry_in", wait)
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		default:
			return fmt.Errorf("write %s..%d: %w", recs[0].Where(), recs[len(recs)-1].Offset, err)
		}
	}
}

// flush makes the sink durable, then commits the offsets it covered.
func (s *sinkState) flush(ctx context.Context) error {
	if s.pending == 0 {
		return nil
	}
	c := s.c
	for attempt := 0; ; attempt++ {
		err := s.sink.Flush(ctx)
		if err == nil {
			break
		}
		c.w.metrics.Errors.WithLabelValues(c.cfg.Name, "flush").Inc()
		if !sdk.IsRetryable(err) || attempt >= c.cfg.Errors.retries() {
			return fmt.Errorf("flush: %w", err)
		}
		if err := sleep(ctx, backoff(c.cfg.Errors.RetryBackoff, c.cfg.Errors.RetryMaxBackoff, attempt)); err != nil {
			return err
		}
	}
	now := time.Now()
	lat := c.w.metrics.Latency.WithLabelValues(c.cfg.Name)
	for _, ts := range s.stamps {
		if !ts.IsZero() {
			lat.Observe(now.Sub(ts).Seconds())
		}
	}
	s.stamps = s.stamps[:0]
	for tp, off := range s.offsets {
		if err := s.commit(ctx, tp, off); err != nil {
			return err
		}
		delete(s.offsets, tp)
	}
	s.pending = 0
	return nil
}

// commitAttempts bounds how long a commit is retried (a state bucket's
// leader election takes seconds) before the task fails and restarts.
const commitAttempts = 12

// commit stores a committed offset, retrying a passing fault with a short
// wait per attempt: a commit lost in a bucket's leader change would
// otherwise hold the task for the client's whole request timeout.
func (s *sinkState) commit(ctx context.Context, tp sdk.TopicPartition, off int64) error {
	c := s.c
	var err error
	for attempt := range commitAttempts {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = c.w.log.CommitOffset(actx, c.cfg.Group, tp.Topic, tp.Partition, off)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		c.w.metrics.Errors.WithLabelValues(c.cfg.Name, "commit").Inc()
		if serr := sleep(ctx, backoff(100*time.Millisecond, time.Second, attempt)); serr != nil {
			return serr
		}
	}
	if err != nil {
		return fmt.Errorf("commit offset %s/%d@%d: %w", tp.Topic, tp.Partition, off, err)
	}
	return nil
}
