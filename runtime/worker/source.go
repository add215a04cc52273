package worker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
)

// Batch meta headers: the position of a batch's last record, and of the
// record before its first (the previous batch's last).
const (
	metaPosition = "braid-position"
	metaPrev     = "braid-prev"
)

// storedPosition is a source task's committed position in KV.
type storedPosition struct {
	Position []byte `json:"position"`
	Seq      uint64 `json:"seq"` // stream sequence of the last acked batch on the source's topic
}

func (c *connector) producerID(t *task) string {
	p := c.cfg.Pipeline
	if p == "" {
		p = "default"
	}
	return fmt.Sprintf("%s.%s.%d", p, c.cfg.Name, t.id)
}

func (c *connector) positionKey(t *task) string { return fmt.Sprintf("%s/%d", c.cfg.Name, t.id) }

// recoverPosition returns where the source task resumes: the position stored in
// KV, or a later one found on a batch the log stored before a crash kept the
// task from committing it.
func (c *connector) recoverPosition(ctx context.Context, t *task) (storedPosition, error) {
	var sp storedPosition
	e, err := c.w.positions.Get(ctx, c.positionKey(t))
	switch {
	case err == nil:
		if err := json.Unmarshal(e.Value, &sp); err != nil {
			return sp, fmt.Errorf("stored position of %s: %w", c.cfg.Name, err)
		}
	case !errors.Is(err, log.ErrKeyNotFound):
		return sp, fmt.Errorf("read position: %w", err)
	}
	meta, seq, found, err := c.w.log.LastMeta(ctx, c.cfg.Topic, c.producerID(t), sp.Seq)
	if err != nil {
		return sp, fmt.Errorf("recover position from topic %s: %w", c.cfg.Topic, err)
	}
	if !found {
		return sp, nil
	}
	// With atomic batches the last stored batch is whole: resume after it.
	// Without (a server before 2.12), it may be partly stored: resume before
	// it, publishing some of its records again rather than losing any.
	key := metaPosition
	if !c.w.log.Atomic() || !t.atomic {
		key = metaPrev
	}
	for _, h := range meta {
		if h.Key == key {
			pos, err := base64.StdEncoding.DecodeString(h.Value)
			if err != nil {
				return sp, fmt.Errorf("position stored in topic %s: %w", c.cfg.Topic, err)
			}
			sp = storedPosition{Position: pos, Seq: seq}
		}
	}
	return sp, nil
}

// inflight is one read batch on its way through the log.
type inflight struct {
	pending []*log.Pending
	main    *log.Pending // the publish to the source's own topic, if any
	pos     sdk.Position
	records int
	bytes   int
}

func (c *connector) runSource(ctx context.Context, t *task) error {
	w := c.w
	proc, err := c.newProcessor(t.id)
	if err != nil {
		return err
	}
	cfg, err := c.plugin.Spec.Validate(c.cfg.Config)
	if err != nil {
		return sdk.Fatal(err)
	}
	if err := c.ensureTopic(ctx, c.cfg.Topic, 1); err != nil {
		return fmt.Errorf("topic %s: %w", c.cfg.Topic, err)
	}
	src, err := c.plugin.NewSource(cfg, c.env(t))
	if err != nil {
		return sdk.Fatal(fmt.Errorf("create source: %w", err))
	}
	_, notReplayable := src.(sdk.NotReplayable)
	t.atomic = !notReplayable
	sp, err := c.recoverPosition(ctx, t)
	if err != nil {
		return err
	}
	if err := src.Open(ctx, sp.Position); err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	if snap, ok := src.(sdk.Snapshotter); ok {
		t.mu.Lock()
		t.progress = snap.Progress
		t.mu.Unlock()
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := src.Close(cctx); err != nil {
			w.logger.Warn("close source", "connector", c.cfg.Name, "task", t.id, "err", err)
		}
	}()

	// Bounded: at most a few coalesced batches wait for the log at a time.
	producer := w.log.Producer(log.ProducerOptions{ID: c.producerID(t), MaxInFlight: 32})
	acks := make(chan inflight, 2)
	ackDone := make(chan error, 1)
	actx, cancelAcks := context.WithCancel(ctx)
	defer cancelAcks()
	go func() { ackDone <- c.ackLoop(actx, t, src, acks, sp) }()

	err = c.readLoop(ctx, t, src, proc, producer, acks, sp.Position)
	close(acks)
	// Drain what was published before stopping, within a bound.
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = producer.Flush(dctx)
	var ackErr error
	select {
	case ackErr = <-ackDone:
	case <-dctx.Done():
		cancelAcks()
		ackErr = <-ackDone
	}
	_ = producer.Close(dctx)
	if errors.Is(err, sdk.ErrEndOfInput) {
		if ackErr == nil {
			t.finished.Store(true)
			w.logger.Info("source reached the end of its input", "connector", c.cfg.Name, "task", t.id)
		}
		return ackErr
	}
	if err == nil || ctx.Err() != nil {
		return nil
	}
	return err
}

// readLoop reads, converts, transforms and publishes until the source ends,
// fails or ctx ends.
func (c *connector) readLoop(ctx context.Context, t *task, src sdk.Source, proc *processor, producer *log.Producer, acks chan<- inflight, prev sdk.Position) error {
	rctx, cancel := context.WithCancel(ctx)
	reads := make(chan readResult, 2)
	done := make(chan struct{})
	go func() { defer close(done); c.reader(rctx, t, src, reads) }()
	defer func() { cancel(); <-done }()
	for {
		var r readResult
		select {
		case r = <-reads:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch, size := r.recs, recordBytes(r.recs)
		// Merge what the reader already has, without waiting: under load a
		// publish carries many reads (fewer, larger stored batches); when idle
		// a record goes out alone at once.
	merge:
		for r.err == nil && len(batch) < coalesceRecords && size < coalesceBytes {
			select {
			case r = <-reads:
				batch = append(batch, r.recs...)
				size += recordBytes(r.recs)
			default:
				break merge
			}
		}
		if len(batch) > 0 {
			if err := c.publish(ctx, t, proc, producer, batch, prev, acks); err != nil {
				return err
			}
			prev = batch[len(batch)-1].Position
		}
		if r.err != nil {
			return r.err
		}
	}
}

// Bounds of one published source batch made of several reads.
const (
	coalesceRecords = 32 << 10
	coalesceBytes   = 2 << 20
)

type readResult struct {
	recs []sdk.Record
	err  error // a final error: the end of input, a failure, or ctx's
}

func recordBytes(recs []sdk.Record) int {
	n := 0
	for i := range recs {
		n += len(recs[i].Value) + len(recs[i].Key)
	}
	return n
}

// reader calls Read in a loop, retrying and backing off by the connector's
// policy, and hands non-empty batches and the final error to readLoop.
func (c *connector) reader(ctx context.Context, t *task, src sdk.Source, out chan<- readResult) {
	send := func(r readResult) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	idle, retries := 0, 0
	for {
		if err := c.waitUnpaused(ctx); err != nil {
			send(readResult{err: err})
			return
		}
		recs, rerr := src.Read(ctx)
		if ctx.Err() != nil {
			send(readResult{err: ctx.Err()})
			return
		}
		switch {
		case rerr == nil, errors.Is(rerr, sdk.ErrEndOfInput):
			idle, retries = 0, 0
			if len(recs) > 0 || rerr != nil {
				if !send(readResult{recs: recs, err: rerr}) || rerr != nil {
					return
				}
			}
		case errors.Is(rerr, sdk.ErrBackoff):
			idle++
			if err := sleep(ctx, backoff(time.Millisecond, 200*time.Millisecond, idle)); err != nil {
				send(readResult{err: err})
				return
			}
		case sdk.IsRetryable(rerr) && retries < c.cfg.Errors.Retries:
			wait := backoff(c.cfg.Errors.RetryBackoff, c.cfg.Errors.RetryMaxBackoff, retries)
			retries++
			c.w.metrics.Errors.WithLabelValues(c.cfg.Name, "read").Inc()
			c.w.logger.Warn("source read failed; retrying", "connector", c.cfg.Name, "task", t.id, "err", rerr, "retry_in", wait)
			if err := sleep(ctx, wait); err != nil {
				send(readResult{err: err})
				return
			}
		default:
			send(readResult{recs: recs, err: fmt.Errorf("read: %w", rerr)})
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// publish processes one read batch and hands it to the log.
func (c *connector) publish(ctx context.Context, t *task, proc *processor, producer *log.Producer, recs []sdk.Record, prev sdk.Position, acks chan<- inflight) error {
	now := time.Now()
	last := recs[len(recs)-1].Position
	byTopic := map[string][]log.Record{c.cfg.Topic: make([]log.Record, 0, len(recs))}
	var order []string
	size := 0
	for i := range recs {
		rec := &recs[i]
		if rec.Timestamp.IsZero() {
			rec.Timestamp = now
		}
		size += len(rec.Value)
		keep, err := proc.apply(ctx, rec)
		if err == nil && keep {
			topic := rec.Topic
			if topic == "" {
				topic = c.cfg.Topic
			}
			err = proc.encode(ctx, topic, rec)
			if err == nil {
				list, ok := byTopic[topic]
				if !ok || (len(list) == 0 && !contains(order, topic)) {
					order = append(order, topic)
				}
				byTopic[topic] = append(list, toLog(rec))
			}
		}
		if err != nil {
			var se *stageError
			stage := StageTransform
			if errors.As(err, &se) {
				stage = se.stage
			}
			if derr := c.deadLetter(ctx, t, rec, stage, err); derr != nil {
				return derr
			}
		}
	}
	c.w.metrics.RecordsIn.WithLabelValues(c.cfg.Name).Add(float64(len(recs)))
	c.w.metrics.BytesIn.WithLabelValues(c.cfg.Name).Add(float64(size))
	item := inflight{pos: last, records: len(recs), bytes: size}
	meta := []log.Header{{Key: metaPosition, Value: base64.StdEncoding.EncodeToString(last)},
		{Key: metaPrev, Value: base64.StdEncoding.EncodeToString(prev)}}
	// Atomic batches need no message ids: a batch is either whole in the log
	// (and recovery resumes after it) or absent.
	msgID := ""
	if !c.w.log.Atomic() || !t.atomic {
		sum := sha256.Sum256(last)
		msgID = c.producerID(t) + "." + hex.EncodeToString(sum[:12])
	}
	for _, topic := range order {
		if topic != c.cfg.Topic {
			if err := c.ensureTopic(ctx, topic, 1); err != nil {
				return fmt.Errorf("topic %s: %w", topic, err)
			}
		}
		id := ""
		if msgID != "" {
			id = msgID + "." + topic
		}
		p, err := producer.Publish(ctx, log.Batch{Topic: topic, Records: byTopic[topic], MsgID: id, Meta: meta, Atomic: t.atomic})
		if err != nil {
			return fmt.Errorf("%s: publish to %s: %w", StageProduce, topic, err)
		}
		item.pending = append(item.pending, p)
		if topic == c.cfg.Topic {
			item.main = p
		}
	}
	select {
	case acks <- item:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ackLoop waits for each batch's acknowledgement in order, acks the source and
// stores its position (at most every 100ms; recovery from the log covers the rest).
func (c *connector) ackLoop(ctx context.Context, t *task, src sdk.Source, acks <-chan inflight, sp storedPosition) error {
	var lastSaved time.Time
	dirty := false
	save := func() error {
		if !dirty {
			return nil
		}
		raw, _ := json.Marshal(sp)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.w.positions.Put(sctx, c.positionKey(t), raw); err != nil {
			return fmt.Errorf("store position: %w", err)
		}
		dirty, lastSaved = false, time.Now()
		return nil
	}
	for item := range acks {
		for _, p := range item.pending {
			recs, err := p.Wait(ctx)
			if err != nil {
				c.w.metrics.Errors.WithLabelValues(c.cfg.Name, StageProduce).Inc()
				_ = save()
				return fmt.Errorf("%s: %w", StageProduce, err)
			}
			if p != item.main {
				continue
			}
			for _, r := range recs {
				if seq, _ := log.SplitOffset(r.Offset); seq > sp.Seq {
					sp.Seq = seq
				}
			}
		}
		if err := src.Ack(ctx, item.pos); err != nil {
			_ = save()
			return fmt.Errorf("ack source: %w", err)
		}
		sp.Position = item.pos
		dirty = true
		c.w.metrics.RecordsOut.WithLabelValues(c.cfg.Name).Add(float64(item.records))
		c.w.metrics.BytesOut.WithLabelValues(c.cfg.Name).Add(float64(item.bytes))
		if time.Since(lastSaved) > 100*time.Millisecond || len(acks) == 0 {
			if err := save(); err != nil {
				return err
			}
		}
	}
	return save()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
