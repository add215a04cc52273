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

// metaPosition is the batch meta header that carries a source position.
const metaPosition = "braid-position"

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
	if found {
		for _, h := range meta {
			if h.Key == metaPosition {
				pos, err := base64.StdEncoding.DecodeString(h.Value)
				if err != nil {
					return sp, fmt.Errorf("position stored in topic %s: %w", c.cfg.Topic, err)
				}
				sp = storedPosition{Position: pos, Seq: seq}
			}
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
	sp, err := c.recoverPosition(ctx, t)
	if err != nil {
		return err
	}
	src, err := c.plugin.NewSource(cfg, c.env(t))
	if err != nil {
		return sdk.Fatal(fmt.Errorf("create source: %w", err))
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

	producer := w.log.Producer(log.ProducerOptions{ID: c.producerID(t)})
	acks := make(chan inflight, 256)
	ackDone := make(chan error, 1)
	actx, cancelAcks := context.WithCancel(ctx)
	defer cancelAcks()
	go func() { ackDone <- c.ackLoop(actx, t, src, acks, sp) }()

	err = c.readLoop(ctx, t, src, proc, producer, acks)
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
func (c *connector) readLoop(ctx context.Context, t *task, src sdk.Source, proc *processor, producer *log.Producer, acks chan<- inflight) error {
	idle := 0
	retries := 0
	for {
		if err := c.waitUnpaused(ctx); err != nil {
			return err
		}
		recs, rerr := src.Read(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case rerr == nil, errors.Is(rerr, sdk.ErrEndOfInput):
			idle, retries = 0, 0
		case errors.Is(rerr, sdk.ErrBackoff):
			idle++
			if err := sleep(ctx, backoff(time.Millisecond, 200*time.Millisecond, idle)); err != nil {
				return err
			}
			continue
		case sdk.IsRetryable(rerr) && retries < c.cfg.Errors.Retries:
			wait := backoff(c.cfg.Errors.RetryBackoff, c.cfg.Errors.RetryMaxBackoff, retries)
			retries++
			c.w.metrics.Errors.WithLabelValues(c.cfg.Name, "read").Inc()
			c.w.logger.Warn("source read failed; retrying", "connector", c.cfg.Name, "task", t.id, "err", rerr, "retry_in", wait)
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("read: %w", rerr)
		}
		if len(recs) > 0 {
			if err := c.publish(ctx, t, proc, producer, recs, acks); err != nil {
				return err
			}
		}
		if rerr != nil {
			return rerr
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
func (c *connector) publish(ctx context.Context, t *task, proc *processor, producer *log.Producer, recs []sdk.Record, acks chan<- inflight) error {
	now := time.Now()
	last := recs[len(recs)-1].Position
	byTopic := map[string][]log.Record{}
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
				if _, ok := byTopic[topic]; !ok {
					order = append(order, topic)
				}
				byTopic[topic] = append(byTopic[topic], toLog(rec))
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
	meta := []log.Header{{Key: metaPosition, Value: base64.StdEncoding.EncodeToString(last)}}
	sum := sha256.Sum256(last)
	msgID := c.producerID(t) + "." + hex.EncodeToString(sum[:12])
	for _, topic := range order {
		if topic != c.cfg.Topic {
			if err := c.ensureTopic(ctx, topic, 1); err != nil {
				return fmt.Errorf("topic %s: %w", topic, err)
			}
		}
		p, err := producer.Publish(ctx, log.Batch{Topic: topic, Records: byTopic[topic], MsgID: msgID + "." + topic, Meta: meta})
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
