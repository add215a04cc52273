package log

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	seq, hdr, err := w.l.lastMsgFromLeader(ctx, StreamName(w.topic), w.subject)
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

// lastMsgFromLeader reads a subject's last message from the stream leader.
// Direct gets may be answered by a replica that is behind, and a fence read
// from one would rewind the chain.
func (l *Log) lastMsgFromLeader(ctx context.Context, stream, subject string) (uint64, nats.Header, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	msg, err := l.conn.NC.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return 0, nil, err
	}
	var resp struct {
		Message *struct {
			Seq  uint64 `json:"seq"`
			Hdrs []byte `json:"hdrs"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, nil, fmt.Errorf("stream %s: bad get reply: %w", stream, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound) {
			return 0, nil, jetstream.ErrMsgNotFound
		}
		return 0, nil, fmt.Errorf("stream %s: %s (%d)", stream, resp.Error.Description, resp.Error.ErrCode)
	}
	if resp.Message == nil {
		return 0, nil, fmt.Errorf("stream %s: empty get reply", stream)
	}
	hdr := nats.Header{}
	if len(resp.Message.Hdrs) > 0 {
		if hdr, err = nats.DecodeHeadersMsg(resp.Message.Hdrs); err != nil {
			return 0, nil, fmt.Errorf("stream %s seq %d: headers: %w", stream, resp.Message.Seq, err)
		}
	}
	return resp.Message.Seq, hdr, nil
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
	if len(msgs)+1 > maxAtomicMessages {
		return nil, fmt.Errorf("atomic batch of %d messages exceeds %d", len(msgs)+1, maxAtomicMessages)
	}
	all := make([]*nats.Msg, 0, len(msgs)+1)
	all = append(all, fence)
	for _, m := range msgs {
		all = append(all, m.msg)
	}
	id := nuid.Next()
	for i, m := range all {
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if i < len(all)-1 {
			if err := w.l.conn.NC.PublishMsg(m); err != nil {
				return nil, fmt.Errorf("publish to %s: %w", m.Subject, err)
			}
		}
	}
	last := all[len(all)-1]
	last.Header.Set(headerBatchCommit, "1")
	ack, err := w.l.js.PublishMsg(ctx, last)
	if err != nil {
		return nil, w.publishErr(err)
	}
	// The batch is stored contiguously: the fence first, the commit last.
	first := ack.Sequence - uint64(len(all)-1)
	w.last = first
	for i, m := range msgs {
		seq := first + 1 + uint64(i)
		for j, ri := range m.item.recs {
			pend.recs[ri].Offset = MakeOffset(seq, j)
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
