package log

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dense offsets. Every message a Braid writer stores on a partition carries
// the offset of its first record (Braid-Offset); its records follow densely.
// A writer knows the partition's tail — the stream sequence of its last
// message and the next offset — and publishes with
// Nats-Expected-Last-Subject-Sequence set to that sequence, so the server
// stores the message only if nothing else was appended to the partition
// meanwhile. On a mismatch the writer reads the tail again (from the stream
// leader) and retries with the new offset: offsets can never collide, skip
// or go backwards, whoever writes (several producers, two workers that both
// believe they own a task, processes killed mid-write), and no timing is
// involved. The server allows one expected-sequence check in flight per
// subject, so each partition has one message in flight per process (its
// turn); throughput comes from large messages, not from pipelining.

// partTail is this process's view of one partition's end.
type partTail struct {
	turn  chan struct{} // one token: held by the writer with a message in flight
	known bool          // seq and next are the partition's (false: read them first)
	seq   uint64        // stream sequence of the partition's last message (0: none)
	next  int64         // the offset the next record gets
}

func (l *Log) tailOf(topic string, p int32) *partTail {
	key := PartitionSubject(topic, p)
	l.tailsMu.Lock()
	defer l.tailsMu.Unlock()
	if l.tails == nil {
		l.tails = map[string]*partTail{}
	}
	t := l.tails[key]
	if t == nil {
		t = &partTail{turn: make(chan struct{}, 1)}
		l.tails[key] = t
	}
	return t
}

// forgetTails drops what is known of a topic's partitions (it was deleted).
func (l *Log) forgetTails(topic string) {
	prefix := subjectPrefix + topic + "."
	l.tailsMu.Lock()
	defer l.tailsMu.Unlock()
	for k := range l.tails {
		if strings.HasPrefix(k, prefix) {
			delete(l.tails, k)
		}
	}
}

// acquire takes the partition's turn.
func (t *partTail) acquire(ctx context.Context, stop <-chan struct{}) error {
	select {
	case t.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}

func (t *partTail) release() { <-t.turn }

// ready makes sure the tail is known; the caller holds the turn.
func (l *Log) ready(ctx context.Context, topic string, p int32, t *partTail) error {
	if t.known {
		return nil
	}
	return l.syncTail(ctx, topic, p, t)
}

// syncTail reads the partition's last message from the stream leader; the
// caller holds the turn.
func (l *Log) syncTail(ctx context.Context, topic string, p int32, t *partTail) error {
	t.known = false
	seq, next, err := l.partitionEnd(ctx, topic, p)
	if err != nil {
		return err
	}
	t.seq, t.next, t.known = seq, next, true
	return nil
}

// partitionEnd returns the stream sequence of the partition's last message
// (0 when it has none) and the partition's end offset (its high watermark:
// the offset the next record gets), read from the stream leader.
func (l *Log) partitionEnd(ctx context.Context, topic string, p int32) (uint64, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	subj := PartitionSubject(topic, p)
	seq, hdr, err := l.msgFromLeader(ctx, StreamName(topic), map[string]any{"last_by_subj": subj})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// Nothing stored, or everything removed by retention: the end is
		// what was last recorded for the partition (0 for a new one).
		next, err := l.savedEnd(ctx, topic, p)
		return 0, next, err
	}
	if err != nil {
		return 0, 0, fmt.Errorf("topic %q partition %d: read its end: %w", topic, p, err)
	}
	first, n, err := msgOffsets(hdr)
	if err != nil {
		return 0, 0, fmt.Errorf("topic %q partition %d seq %d: %w", topic, p, seq, err)
	}
	return seq, first + int64(n), nil
}

// msgFromLeader sends a message-get request (last_by_subj, or seq with
// next_by_subj) to the stream leader and returns the message's sequence and
// headers. Direct gets may be answered by a replica that is behind, and a
// tail or fence read from one would rewind it.
func (l *Log) msgFromLeader(ctx context.Context, stream string, req map[string]any) (uint64, nats.Header, error) {
	m, err := l.getFromLeader(ctx, stream, req)
	return m.seq, m.hdr, err
}

// leaderMsg is a stored message read from the stream leader.
type leaderMsg struct {
	seq  uint64
	hdr  nats.Header
	data []byte
	time time.Time
}

// getFromLeader is msgFromLeader with the message's data.
func (l *Log) getFromLeader(ctx context.Context, stream string, req map[string]any) (leaderMsg, error) {
	body, _ := json.Marshal(req)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	msg, err := l.conn.NC.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return leaderMsg{}, err
	}
	var resp struct {
		Message *struct {
			Seq  uint64    `json:"seq"`
			Hdrs []byte    `json:"hdrs"`
			Data []byte    `json:"data"`
			Time time.Time `json:"time"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return leaderMsg{}, fmt.Errorf("stream %s: bad get reply: %w", stream, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound) {
			return leaderMsg{}, jetstream.ErrMsgNotFound
		}
		if resp.Error.ErrCode == int(jetstream.JSErrCodeStreamNotFound) {
			return leaderMsg{}, ErrTopicNotFound
		}
		return leaderMsg{}, fmt.Errorf("stream %s: %s (%d)", stream, resp.Error.Description, resp.Error.ErrCode)
	}
	if resp.Message == nil {
		return leaderMsg{}, fmt.Errorf("stream %s: empty get reply", stream)
	}
	m := leaderMsg{seq: resp.Message.Seq, hdr: nats.Header{}, data: resp.Message.Data, time: resp.Message.Time}
	if len(resp.Message.Hdrs) > 0 {
		if m.hdr, err = nats.DecodeHeadersMsg(resp.Message.Hdrs); err != nil {
			return leaderMsg{}, fmt.Errorf("stream %s seq %d: headers: %w", stream, resp.Message.Seq, err)
		}
	}
	return m, nil
}

// setOffsets marks a message for the tail: its first offset, and the
// expected last sequence of its partition.
func setOffsets(m *nats.Msg, t *partTail) {
	m.Header.Set(HeaderOffset, strconv.FormatInt(t.next, 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(t.seq, 10))
}

// isWrongSeq reports whether the server refused a message because its
// expected last (subject) sequence did not hold.
func isWrongSeq(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return true
		}
	}
	return err != nil && strings.Contains(err.Error(), "wrong last sequence")
}

// Where every record of a partition was removed by retention, the end of
// the partition cannot be read from the stream any more. Writers of topics
// whose records can be removed (retention or discard: old) record each
// partition's end in the braid_ends bucket, at most every endSaveEvery and
// off the write path; the end read back is never behind it by more than
// what was written in that interval, and a partition's last message is
// removed only after the topic's whole retention (or max_bytes of newer
// data) has passed, which is far longer.
const (
	endsBucket   = "braid_ends"
	endSaveEvery = 100 * time.Millisecond
)

func (l *Log) endsKV(ctx context.Context) (*KV, error) { return l.ends.open(ctx, l, endsBucket) }

func endKey(topic string, p int32) string { return topic + "/" + strconv.Itoa(int(p)) }

// savedEnd returns the recorded end of a partition (0 when none).
func (l *Log) savedEnd(ctx context.Context, topic string, p int32) (int64, error) {
	meta, err := l.partitions(ctx, topic)
	if err != nil {
		return 0, err
	}
	if !meta.removes {
		return 0, nil
	}
	kv, err := l.endsKV(ctx)
	if err != nil {
		return 0, err
	}
	e, err := kv.Get(ctx, endKey(topic, p))
	if errors.Is(err, ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d: read its recorded end: %w", topic, p, err)
	}
	n, err := strconv.ParseInt(string(e.Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("topic %q partition %d: bad recorded end %q", topic, p, e.Value)
	}
	return n, nil
}

// endSaver records partition ends in the background, latest value wins.
type endSaver struct {
	mu      sync.Mutex
	pending map[string]int64
	running bool
}

// noteEnd records that a partition's end moved to next (after a write).
func (l *Log) noteEnd(topic string, p int32, next int64, meta topicMeta) {
	if !meta.removes {
		return
	}
	s := &l.endSave
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[string]int64{}
	}
	s.pending[endKey(topic, p)] = next
	if !s.running {
		s.running = true
		go l.saveEnds()
	}
}

func (l *Log) saveEnds() {
	s := &l.endSave
	for {
		time.Sleep(endSaveEvery) // coalesces the writes of one interval into one put per partition
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 || l.isClosed() {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		kv, err := l.endsKV(ctx)
		for k, v := range batch {
			if err == nil {
				_, err = kv.Put(ctx, k, strconv.AppendInt(nil, v, 10))
			}
			if err != nil {
				// Keep it for the next round unless a newer end arrived.
				s.mu.Lock()
				if _, ok := s.pending[k]; !ok {
					if s.pending == nil {
						s.pending = map[string]int64{}
					}
					s.pending[k] = v
				}
				s.mu.Unlock()
			}
		}
		cancel()
		if err != nil {
			l.log.Warn("log: record partition ends", "err", err)
		}
	}
}

// forgetEnds removes a deleted topic's recorded partition ends, so a topic
// created again under the name starts at offset 0.
func (l *Log) forgetEnds(ctx context.Context, topic string) {
	if _, err := l.js.KeyValue(ctx, endsBucket); err != nil {
		return // never created: no topic recorded an end
	}
	kv, err := l.endsKV(ctx)
	if err != nil {
		return
	}
	keys, err := kv.Keys(ctx, topic+"/")
	if err != nil {
		return
	}
	for _, k := range keys {
		_ = kv.Delete(ctx, k)
	}
}

// StoredMeta is what ScanMeta reads of one stored message of a partition.
type StoredMeta struct {
	Seq    uint64   // stream sequence
	Offset int64    // offset of its first record
	Count  int      // records in it
	MsgID  string   // its Nats-Msg-Id: the batch's MsgID, "-partition-chunk"
	Meta   []Header // its batch's Meta
}

// ScanMeta reads the partition's messages stored at or after since, oldest
// first, up to its last message at the time of the call, and hands each
// one's offsets, message id and Meta to fn. It reads at most limit messages, one
// request to the stream leader each (data included: there is no headers-only
// get), and says with complete whether it reached the end. (A server older
// than 2.10 ignores the start time: the messages before since it reads
// then count against limit.)
func (l *Log) ScanMeta(ctx context.Context, topic string, p int32, since time.Time, limit int, fn func(StoredMeta)) (complete bool, err error) {
	lastSeq, _, err := l.partitionEnd(ctx, topic, p)
	if err != nil || lastSeq == 0 {
		return err == nil, err
	}
	stream, subj := StreamName(topic), PartitionSubject(topic, p)
	req := map[string]any{"start_time": since.UTC(), "next_by_subj": subj}
	for range limit {
		m, err := l.getFromLeader(ctx, stream, req)
		seq, hdr := m.seq, m.hdr
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("topic %q partition %d: scan: %w", topic, p, err)
		}
		if seq > lastSeq {
			return true, nil
		}
		req = map[string]any{"seq": seq + 1, "next_by_subj": subj}
		if m.time.Before(since) {
			continue // a server that ignores start_time (before 2.10) starts at the first
		}
		first, count, err := msgOffsets(hdr)
		if err != nil {
			return false, fmt.Errorf("topic %q partition %d seq %d: %w", topic, p, seq, err)
		}
		meta, err := decodeMeta(hdr.Get(HeaderMeta))
		if err != nil {
			return false, fmt.Errorf("topic %q partition %d seq %d: bad %s header: %w", topic, p, seq, HeaderMeta, err)
		}
		fn(StoredMeta{Seq: seq, Offset: first, Count: count, MsgID: hdr.Get(jetstream.MsgIDHeader), Meta: meta})
		if seq == lastSeq {
			return true, nil
		}
	}
	return false, nil
}
