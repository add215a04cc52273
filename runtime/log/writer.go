package log

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// ErrFenced is returned by Writer.Write when another writer for the same
// producer id appended to the chain: this one lost its task (a worker whose
// lease lapsed) and must resynchronise from the log before writing again.
var ErrFenced = errors.New("fenced: another writer of this producer stored a batch")

// HeaderWriter names the writer instance that stored a fence.
const HeaderWriter = "Braid-Writer"

// Writer stores one producer's batches in a topic as a chain: each Write is
// one JetStream atomic batch (or, on servers before 2.12, the data messages
// followed by the fence) led by a fence message on the producer's own subject
// of the topic, published with Nats-Expected-Last-Subject-Sequence set to the
// chain's previous fence. The server refuses a batch whose fence does not
// extend the chain, so
//   - a batch that failed can never be followed by a later one that is stored
//     (there is one Write in flight, and the next one is checked against the
//     last stored fence);
//   - two writers of the same producer (a task briefly running on two
//     workers) cannot both append: the second gets ErrFenced;
//   - the last fence names the position of the last stored batch, found in
//     O(1) by reading the subject's last message.
//
// Writes are synchronous; callers overlap reading with writing instead.
type Writer struct {
	l       *Log
	topic   string
	id      string
	subject string
	nonce   string // this writer instance
	last    uint64 // stream sequence of the chain's last fence, 0 if none
	prod    *Producer
}

// ChainEnd is the last fence of a producer's chain in a topic.
type ChainEnd struct {
	Found bool
	Seq   uint64   // its stream sequence
	Meta  []Header // the Meta of the batch it committed
}

// FenceSubject is the subject holding producerID's fences in topic. It is a
// token of the topic's stream beside the partitions, never read as one.
func FenceSubject(topic, producerID string) string {
	sum := sha256.Sum256([]byte(producerID))
	return subjectPrefix + topic + ".w" + hex.EncodeToString(sum[:10])
}

// OpenWriter returns a writer appending to producerID's chain in topic, and
// the chain's current end.
func (l *Log) OpenWriter(ctx context.Context, topic, producerID string) (*Writer, ChainEnd, error) {
	if producerID == "" {
		return nil, ChainEnd{}, errors.New("writer: producer id is required")
	}
	w := &Writer{l: l, topic: topic, id: producerID, subject: FenceSubject(topic, producerID), nonce: nuid.Next()}
	end, err := w.chainEnd(ctx)
	if err != nil {
		return nil, ChainEnd{}, err
	}
	w.last = end.Seq
	w.prod = l.Producer(ProducerOptions{ID: producerID, MaxInFlight: 64})
	return w, end, nil
}

// chainEnd reads the last fence of the chain.
func (w *Writer) chainEnd(ctx context.Context) (ChainEnd, error) {
	end, _, err := w.lastFence(ctx)
	return end, err
}

func (w *Writer) lastFence(ctx context.Context) (ChainEnd, string, error) {
	seq, hdr, err := w.l.msgFromLeader(ctx, StreamName(w.topic), map[string]any{"last_by_subj": w.subject})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ChainEnd{}, "", nil
	}
	if err != nil {
		return ChainEnd{}, "", fmt.Errorf("topic %q: read fence of %q: %w", w.topic, w.id, err)
	}
	meta, err := decodeMeta(hdr.Get(HeaderMeta))
	if err != nil {
		return ChainEnd{}, "", fmt.Errorf("topic %q seq %d: bad %s header: %w", w.topic, seq, HeaderMeta, err)
	}
	return ChainEnd{Found: true, Seq: seq, Meta: meta}, hdr.Get(HeaderWriter), nil
}

// Close releases the writer.
func (w *Writer) Close(ctx context.Context) error { return w.prod.Close(ctx) }

// Write stores b (its Meta recorded in the fence) and returns its records
// with partitions and offsets. b.Atomic asks for an all-or-nothing batch
// (needs Log.Atomic()); otherwise the data is stored first and the fence
// last, so a failure can leave records of a batch whose fence is missing —
// published again on retry (at least once; b.MsgID deduplicates within the
// window). Errors: ErrTopicFull (nothing stored; retry later), ErrFenced
// (another writer took over the chain), or a transient error after which
// Write may simply be called again with the same batch.
func (w *Writer) Write(ctx context.Context, b Batch) ([]Record, error) {
	if b.Topic == "" {
		b.Topic = w.topic
	}
	if b.Topic != w.topic {
		return nil, fmt.Errorf("writer of topic %q cannot write to %q", w.topic, b.Topic)
	}
	fence := w.fence(b.Meta)
	var recs []Record
	var err error
	// A bounded wait per attempt: an answer lost in a leader change is
	// noticed in seconds, and the chain's end then tells what happened.
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if b.Atomic && w.l.atomic {
		recs, err = w.writeAtomic(wctx, b, fence)
	} else {
		recs, err = w.writeThenFence(wctx, b, fence)
	}
	if err == nil || errors.Is(err, ErrTopicFull) || ctx.Err() != nil {
		return recs, err
	}
	// The outcome is unknown (no answer, a leader change) or the chain
	// moved: look at the chain's end to tell what happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	end, nonce, rerr := w.lastFence(rctx)
	switch {
	case rerr != nil:
		return nil, fmt.Errorf("%w (and the chain could not be read: %v)", err, rerr)
	case end.Seq == w.last:
		return nil, err // not stored; the same batch may be written again
	case nonce == w.nonce && metaEqual(end.Meta, b.Meta):
		// Stored after all: only its answer was lost.
		w.last = end.Seq
		return nil, fmt.Errorf("%w: %w", ErrStoredUnacknowledged, err)
	default:
		return nil, fmt.Errorf("topic %q producer %q: %w (chain at %d, expected %d)", w.topic, w.id, ErrFenced, end.Seq, w.last)
	}
}

// writeTimeout bounds one attempt of Write.
const writeTimeout = 3 * time.Second

// ErrStoredUnacknowledged: the batch is in the log, but its answer (and so
// its records' offsets) was lost; the caller treats it as written.
var ErrStoredUnacknowledged = errors.New("stored, acknowledgement lost")

func (w *Writer) fence(meta []Header) *nats.Msg {
	m := &nats.Msg{Subject: w.subject, Header: nats.Header{}}
	m.Header.Set(HeaderProducer, w.id)
	m.Header.Set(HeaderWriter, w.nonce)
	if h := encodeMeta(meta); h != "" {
		m.Header.Set(HeaderMeta, h)
	}
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(w.last, 10))
	return m
}

func (w *Writer) writeAtomic(ctx context.Context, b Batch, fence *nats.Msg) ([]Record, error) {
	p := w.prod
	meta, err := w.l.partitions(ctx, b.Topic)
	if err != nil {
		return nil, err
	}
	pend := &Pending{topic: b.Topic, recs: append([]Record(nil), b.Records...), done: make(chan struct{})}
	p.mu.Lock()
	byPart, err := p.assign(pend.recs, meta.partitions, b.Topic)
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	b.MsgID = "" // atomic batches need no ids, and JetStream refuses them in one
	msgs := p.buildMessages(b, pend, byPart, meta)
	p.mu.Unlock()
	if pend.err != nil {
		return nil, pend.err
	}
	var first uint64
	for attempt := 0; ; attempt++ {
		first, err = w.l.appendAtomic(ctx, b.Topic, meta, fence, msgs)
		if err == nil || !isWrongSeq(err) || attempt >= maxFenceRetries || ctx.Err() != nil {
			break
		}
		// A check failed: the fence's (another writer of this producer:
		// fenced) or a partition's (another producer appended to it: read
		// the tail again and retry, which appendAtomic does on its next call).
		end, _, rerr := w.lastFence(ctx)
		if rerr != nil || end.Seq != w.last {
			break // Write looks at the chain and says what happened
		}
	}
	if err != nil {
		return nil, w.publishErr(err)
	}
	w.last = first // the fence leads the batch
	for _, m := range msgs {
		for j, ri := range m.item.recs {
			pend.recs[ri].Offset = m.item.first + int64(j)
		}
	}
	return pend.recs, nil
}

func (w *Writer) writeThenFence(ctx context.Context, b Batch, fence *nats.Msg) ([]Record, error) {
	var recs []Record
	if len(b.Records) > 0 {
		b.Atomic = false
		pend, err := w.prod.Publish(ctx, b)
		if err != nil {
			return nil, w.publishErr(err)
		}
		if recs, err = pend.Wait(ctx); err != nil {
			return nil, w.publishErr(err)
		}
	}
	ack, err := w.l.js.PublishMsg(ctx, fence)
	if err != nil {
		return nil, w.publishErr(err)
	}
	w.last = ack.Sequence
	return recs, nil
}

func (w *Writer) publishErr(err error) error {
	if isFull(err) {
		return fmt.Errorf("topic %q: %w", w.topic, ErrTopicFull)
	}
	if errors.Is(err, ErrTopicFull) {
		return err
	}
	return fmt.Errorf("topic %q: %w", w.topic, err)
}

func metaEqual(a, b []Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Last returns the stream sequence of the chain's last fence.
func (w *Writer) Last() uint64 { return w.last }

// LastSequence returns the topic's last stream sequence (0 when empty or
// gone): a position stored with it outranks every fence written before.
func (l *Log) LastSequence(ctx context.Context, topic string) (uint64, error) {
	s, err := l.stream(ctx, topic)
	if errors.Is(err, ErrTopicNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("topic %q: %w", topic, err)
	}
	return info.State.LastSeq, nil
}
