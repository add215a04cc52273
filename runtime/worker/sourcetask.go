package worker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"

	"golang.org/x/sync/semaphore"
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
	Seq      uint64 `json:"seq"` // stream sequence of the fence (or batch) it was read from
}

// readAhead bounds the number of reads waiting while a batch is being
// written (readAheadBytes bounds their memory).
const readAhead = 8

// sourceTask is one running source task: a reader goroutine that calls the
// source, and a writer that converts, transforms and appends batches to the
// task's fenced chain in its topic, then acknowledges them to the source and
// stores the position. The two run in an errgroup: when one ends, the other
// is cancelled, so a failed write can never leave the reader blocked.
type sourceTask struct {
	c    *connector
	t    *task
	ref  taskRef
	src  sdk.Source
	proc *processor
	wr   *log.Writer
	dlq  *deadLetters
	// routed publishes the records a transform routed to other topics
	// (at least once: they are not part of the fenced chain).
	routed *log.Producer

	pos       storedPosition
	lastSaved time.Time
	blocked   string // the reason while the task waits on the log

	saving sync.Mutex     // held by the one position store in flight
	saved  storedPosition // the last position stored (under saving)
}

func (c *connector) runSource(ctx context.Context, t *task) error {
	st, err := c.openSource(ctx, t)
	if err != nil {
		return err
	}
	defer st.close()
	err = st.run(ctx)
	if errors.Is(err, sdk.ErrEndOfInput) {
		t.finished.Store(true)
		c.w.logger.Info("source reached the end of its input", "connector", c.cfg.Name, "task", t.id)
		return nil
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// openSource creates the source, finds where it resumes and opens it.
func (c *connector) openSource(ctx context.Context, t *task) (*sourceTask, error) {
	w := c.w
	proc, err := c.newProcessor(t.id)
	if err != nil {
		return nil, err
	}
	cfg, err := c.plugin.Spec.Validate(c.cfg.Config)
	if err != nil {
		return nil, sdk.Fatal(err)
	}
	if err := c.ensureTopic(ctx, c.cfg.Topic, 1); err != nil {
		return nil, fmt.Errorf("topic %s: %w", c.cfg.Topic, err)
	}
	src, err := c.plugin.NewSource(cfg, c.env(t))
	if err != nil {
		return nil, sdk.Fatal(fmt.Errorf("create source: %w", err))
	}
	_, notReplayable := src.(sdk.NotReplayable)
	t.atomic = !notReplayable
	st := &sourceTask{c: c, t: t, ref: c.ref(t.id), src: src, proc: proc, dlq: c.deadLetters(t)}
	wr, end, err := w.log.OpenWriter(ctx, c.cfg.Topic, st.ref.producer())
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", c.cfg.Topic, err)
	}
	st.wr = wr
	st.routed = w.log.Producer(log.ProducerOptions{ID: st.ref.producer(), MaxInFlight: 32})
	if st.pos, err = c.recoverPosition(ctx, st.ref, end); err != nil {
		st.closeLog()
		return nil, err
	}
	if err := src.Open(ctx, st.pos.Position); err != nil {
		st.closeLog()
		return nil, fmt.Errorf("open source: %w", err)
	}
	if snap, ok := src.(sdk.Snapshotter); ok {
		t.mu.Lock()
		t.progress = snap.Progress
		t.mu.Unlock()
	}
	if is, ok := src.(sdk.IncrementalSnapshotter); ok {
		t.mu.Lock()
		t.snapshotter, t.snapSeen = is, 0
		t.mu.Unlock()
		t.handSnapshots(w.target(c.cfg.Name).Snapshots)
	}
	return st, nil
}

// recoverPosition returns where the task resumes: the position of the last
// batch in its chain, unless the position stored in KV is newer (an operator
// set it through the offsets API after that batch).
func (c *connector) recoverPosition(ctx context.Context, ref taskRef, end log.ChainEnd) (storedPosition, error) {
	var sp storedPosition
	e, err := c.w.positions.Get(ctx, ref.position())
	if errors.Is(err, log.ErrKeyNotFound) && c.cfg.Pipeline == "" {
		e, err = c.w.positions.Get(ctx, ref.legacyPosition())
	}
	switch {
	case err == nil:
		if err := json.Unmarshal(e.Value, &sp); err != nil {
			return sp, fmt.Errorf("stored position of %s: %w", c.cfg.Name, err)
		}
	case !errors.Is(err, log.ErrKeyNotFound):
		return sp, fmt.Errorf("read position: %w", err)
	}
	if !end.Found || end.Seq <= sp.Seq {
		return sp, nil
	}
	for _, h := range end.Meta {
		if h.Key == metaPosition {
			pos, err := base64.StdEncoding.DecodeString(h.Value)
			if err != nil {
				return sp, fmt.Errorf("position stored in topic %s: %w", c.cfg.Topic, err)
			}
			return storedPosition{Position: pos, Seq: end.Seq}, nil
		}
	}
	return sp, nil
}

func (st *sourceTask) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	reads := make(chan readResult, readAhead)
	budget := semaphore.NewWeighted(readAheadBytes)
	g.Go(func() error { st.c.reader(gctx, st.t, st.src, reads, budget); return nil })
	g.Go(func() error { return st.writeLoop(gctx, reads, budget) })
	err := g.Wait()
	st.savePosition()
	return err
}

func (st *sourceTask) close() {
	st.t.mu.Lock()
	st.t.snapshotter = nil // a request now waits for the next Open
	st.t.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.src.Close(cctx); err != nil {
		st.c.w.logger.Warn("close source", "connector", st.c.cfg.Name, "task", st.t.id, "err", err)
	}
	st.closeLog()
}

func (st *sourceTask) closeLog() {
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = st.wr.Close(cctx)
	_ = st.routed.Close(cctx)
	st.dlq.close(cctx)
	st.unblock()
}

// writeLoop writes what the reader hands over until the source ends, fails
// or ctx ends; it returns the reader's final error (ErrEndOfInput included).
func (st *sourceTask) writeLoop(ctx context.Context, reads <-chan readResult, budget *semaphore.Weighted) error {
	prev := st.pos.Position
	for {
		var r readResult
		select {
		case r = <-reads:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch, size, held := r.recs, recordBytes(r.recs), r.held
		// Merge what the reader already has, without waiting: under load a
		// write carries many reads (fewer, larger stored batches); when idle
		// a record goes out alone at once.
	merge:
		for r.err == nil && len(batch) < coalesceRecords && size < coalesceBytes {
			select {
			case r = <-reads:
				batch = append(batch, r.recs...)
				size += recordBytes(r.recs)
				held += r.held
			default:
				break merge
			}
		}
		if len(batch) > 0 {
			if err := st.write(ctx, batch, prev); err != nil {
				return err
			}
			prev = batch[len(batch)-1].Position
		}
		budget.Release(held)
		if r.err != nil {
			return r.err
		}
	}
}

// write converts and transforms one batch, appends it to the chain (waiting
// while the topic is full or the log is unavailable), then acknowledges it to
// the source. The position moves only past what the log acknowledged.
func (st *sourceTask) write(ctx context.Context, recs []sdk.Record, prev sdk.Position) error {
	c := st.c
	byTopic, order, size, err := st.process(ctx, recs)
	if err != nil {
		return err
	}
	last := recs[len(recs)-1].Position
	meta := []log.Header{{Key: metaPosition, Value: base64.StdEncoding.EncodeToString(last)},
		{Key: metaPrev, Value: base64.StdEncoding.EncodeToString(prev)}}
	msgID := ""
	if !c.w.log.Atomic() || !st.t.atomic {
		sum := sha256.Sum256(last)
		msgID = st.ref.producer() + "." + hex.EncodeToString(sum[:12])
	}
	for _, topic := range order {
		if topic == c.cfg.Topic {
			continue
		}
		if err := st.publishRouted(ctx, topic, byTopic[topic], msgID, meta); err != nil {
			return err
		}
	}
	batch := log.Batch{Topic: c.cfg.Topic, Records: byTopic[c.cfg.Topic], MsgID: msgID, Meta: meta, Atomic: st.t.atomic}
	stored, err := st.writeWithRetry(ctx, batch)
	if err != nil {
		return err
	}
	if err := st.src.Ack(ctx, last); err != nil {
		return fmt.Errorf("ack source: %w", err)
	}
	st.pos = storedPosition{Position: last, Seq: stored}
	c.w.metrics.RecordsOut.WithLabelValues(c.cfg.Name).Add(float64(len(recs)))
	c.w.metrics.BytesOut.WithLabelValues(c.cfg.Name).Add(float64(size))
	if time.Since(st.lastSaved) > 100*time.Millisecond && st.saving.TryLock() {
		// In the background: a slow bucket (a leader election) must not
		// hold up writes; the chain in the log has the position anyway.
		st.lastSaved = time.Now()
		go func(sp storedPosition) {
			defer st.saving.Unlock()
			st.store(sp)
		}(st.pos)
	}
	return nil
}

// process applies transforms and converters, dead-lettering failures, and
// groups the records by destination topic.
func (st *sourceTask) process(ctx context.Context, recs []sdk.Record) (map[string][]log.Record, []string, int, error) {
	c := st.c
	now := time.Now()
	byTopic := map[string][]log.Record{c.cfg.Topic: make([]log.Record, 0, len(recs))}
	order := []string{c.cfg.Topic}
	size := 0
	for i := range recs {
		rec := &recs[i]
		if rec.Timestamp.IsZero() {
			rec.Timestamp = now
		}
		size += len(rec.Value)
		if rec.Err != nil {
			// Input the source could not parse: nothing to transform or
			// convert; its position commits with the batch.
			if err := st.dlq.send(ctx, rec, StageSource, rec.Err); err != nil {
				return nil, nil, 0, err
			}
			continue
		}
		keep, err := st.proc.apply(ctx, rec)
		if err == nil && keep {
			topic := rec.Topic
			if topic == "" {
				topic = c.cfg.Topic
			}
			err = st.proc.encode(ctx, topic, rec)
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
			if derr := st.dlq.send(ctx, rec, stage, err); derr != nil {
				return nil, nil, 0, derr
			}
		}
	}
	c.w.metrics.RecordsIn.WithLabelValues(c.cfg.Name).Add(float64(len(recs)))
	c.w.metrics.BytesIn.WithLabelValues(c.cfg.Name).Add(float64(size))
	return byTopic, order, size, nil
}

func (st *sourceTask) publishRouted(ctx context.Context, topic string, recs []log.Record, msgID string, meta []log.Header) error {
	if err := st.c.ensureTopic(ctx, topic, 1); err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}
	id := ""
	if msgID != "" {
		id = msgID + "." + topic
	}
	return st.retry(ctx, func() error {
		p, err := st.routed.Publish(ctx, log.Batch{Topic: topic, Records: recs, MsgID: id, Meta: meta})
		if err == nil {
			_, err = p.Wait(ctx)
		}
		return err
	})
}

// writeWithRetry appends batch to the chain and returns the fence's stream
// sequence; a full topic or an unavailable log blocks the task (visibly) and
// the same batch is written again until it is stored or ctx ends.
func (st *sourceTask) writeWithRetry(ctx context.Context, batch log.Batch) (uint64, error) {
	var seq uint64
	err := st.retry(ctx, func() error {
		_, err := st.wr.Write(ctx, batch)
		if errors.Is(err, log.ErrStoredUnacknowledged) {
			err = nil
		}
		if err == nil {
			seq = st.wr.Last()
		}
		return err
	})
	return seq, err
}

// retry runs op until it succeeds, blocking the task while the log cannot
// take the batch. Being fenced ends the task: it restarts from the chain.
func (st *sourceTask) retry(ctx context.Context, op func() error) error {
	c := st.c
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil {
			st.unblock()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.w.metrics.Errors.WithLabelValues(c.cfg.Name, StageProduce).Inc()
		if errors.Is(err, log.ErrFenced) || errors.Is(err, log.ErrClosed) {
			return fmt.Errorf("%s: %w", StageProduce, err)
		}
		reason := "log_unavailable"
		if errors.Is(err, log.ErrTopicFull) {
			reason = "topic_full"
		}
		st.block(reason, err)
		if err := sleep(ctx, backoff(100*time.Millisecond, 5*time.Second, attempt)); err != nil {
			return err
		}
	}
}

// block marks the task BLOCKED with the reason, in status, log and metrics.
func (st *sourceTask) block(reason string, err error) {
	c := st.c
	trace := "blocked: " + reason + ": " + err.Error()
	if reason == "topic_full" {
		trace = "blocked: topic full: " + err.Error() + " (waiting for space: retention, a larger max_bytes, or discard: old)"
	}
	if st.blocked == reason {
		return
	}
	if st.blocked != "" {
		c.w.metrics.Blocked.WithLabelValues(c.cfg.Name, strconv.Itoa(st.t.id), st.blocked).Set(0)
	}
	st.blocked = reason
	c.w.metrics.Blocked.WithLabelValues(c.cfg.Name, strconv.Itoa(st.t.id), reason).Set(1)
	st.t.set(StateBlocked, trace)
	c.w.logger.Warn("source task blocked; retrying the same batch", "connector", c.cfg.Name, "task", st.t.id,
		"topic", c.cfg.Topic, "reason", reason, "err", err)
}

func (st *sourceTask) unblock() {
	if st.blocked == "" {
		return
	}
	c := st.c
	c.w.metrics.Blocked.WithLabelValues(c.cfg.Name, strconv.Itoa(st.t.id), st.blocked).Set(0)
	st.blocked = ""
	st.t.set(StateRunning, "")
	c.w.logger.Info("source task resumed", "connector", c.cfg.Name, "task", st.t.id, "topic", c.cfg.Topic)
}

// savePosition stores the latest position once no other store is in
// flight (at the end of the task).
func (st *sourceTask) savePosition() {
	st.saving.Lock()
	defer st.saving.Unlock()
	st.store(st.pos)
}

// store writes sp to KV for the offsets API, unless it is stored already;
// the chain in the log stays the authority, so a failure is a warning.
// Called with st.saving held.
func (st *sourceTask) store(sp storedPosition) {
	if sp.Seq == st.saved.Seq && string(sp.Position) == string(st.saved.Position) {
		return
	}
	raw, _ := json.Marshal(sp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := st.c.w.positions.Put(ctx, st.ref.position(), raw); err != nil {
		st.c.w.logger.Warn("store source position", "connector", st.c.cfg.Name, "task", st.t.id, "err", err)
		return
	}
	st.saved = sp
}
