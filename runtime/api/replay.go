package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/worker"
)

// maxReplay bounds the records one POST /topics/{dlq}/replay re-publishes.
const maxReplay = 1000

// HeaderReplayedFrom names the dead letter a replayed record came from
// (<dlq>/<partition>/<offset>).
const HeaderReplayedFrom = "braid.replayed.from"

// ReplayRequest is POST /topics/{dlq}/replay's body: the dead letters to
// re-publish, by partition and offset.
type ReplayRequest struct {
	Partition int32   `json:"partition"`
	Offsets   []int64 `json:"offsets"`
}

// Replayed is one re-published dead letter and where it went.
type Replayed struct {
	Offset    int64  `json:"offset"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	NewOffset int64  `json:"new_offset"`
}

// ReplayResult is POST /topics/{dlq}/replay's answer.
type ReplayResult struct {
	Topic     string     `json:"topic"`
	Partition int32      `json:"partition"`
	Replayed  []Replayed `json:"replayed"`
}

// replay re-publishes dead letters to the topic named by their
// braid.dlq.topic header, in their original partition, without the
// braid.dlq.* headers and with braid.replayed.from. Every record is checked
// before any is published, so a request with a mistake publishes nothing.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req ReplayRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.Offsets) > maxReplay {
		writeError(w, http.StatusBadRequest, "offsets: at most %d records per replay, not %d", maxReplay, len(req.Offsets))
		return
	}
	offsets := slices.Compact(slices.Sorted(slices.Values(req.Offsets)))
	switch {
	case len(offsets) == 0:
		writeError(w, http.StatusBadRequest, "offsets: name at least one dead letter to replay")
		return
	case req.Partition < 0 || offsets[0] < 0:
		writeError(w, http.StatusBadRequest, "partition and offsets must not be negative")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	recs, err := s.deadLetters(ctx, name, req.Partition, offsets)
	if err != nil {
		var bad badReplay
		if errors.As(err, &bad) {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		s.topicError(w, err)
		return
	}
	out := ReplayResult{Topic: name, Partition: req.Partition, Replayed: []Replayed{}}
	p := s.eng.Log.Producer(log.ProducerOptions{ID: "braid-replay"})
	defer func() { _ = p.Close(context.WithoutCancel(ctx)) }()
	for i, rec := range recs {
		origin := header(rec.Headers, worker.HeaderDLQTopic)
		partition := int32(-1)
		if n, err := strconv.ParseInt(header(rec.Headers, worker.HeaderDLQPartition), 10, 32); err == nil {
			if parts, err := s.eng.Log.Partitions(ctx, origin); err == nil && int(n) < parts {
				partition = int32(n)
			}
		}
		from := fmt.Sprintf("%s/%d/%d", name, rec.Partition, rec.Offset)
		hdrs := []log.Header{}
		for _, h := range rec.Headers {
			if !strings.HasPrefix(h.Key, "braid.dlq.") && h.Key != HeaderReplayedFrom {
				hdrs = append(hdrs, h)
			}
		}
		hdrs = append(hdrs, log.Header{Key: HeaderReplayedFrom, Value: from})
		// The message id makes a double-clicked replay idempotent within the
		// log's duplicate window.
		pend, err := p.Publish(ctx, log.Batch{Topic: origin, MsgID: "replay-" + from, Records: []log.Record{{
			Key: rec.Key, Value: rec.Value, Headers: hdrs, Timestamp: time.Now(), Partition: partition}}})
		if err == nil {
			var res []log.Record
			if res, err = pend.Wait(ctx); err == nil && len(res) == 1 {
				out.Replayed = append(out.Replayed, Replayed{Offset: rec.Offset, Topic: origin, Partition: res[0].Partition, NewOffset: res[0].Offset})
				continue
			}
		}
		if err == nil {
			err = errors.New("the log did not acknowledge the record")
		}
		s.logger.Error("api replay failed", "topic", name, "partition", rec.Partition, "offset", rec.Offset, "err", err)
		writeError(w, http.StatusInternalServerError, "replay %s to %s: %v (%d of %d records were replayed)", from, origin, err, i, len(recs))
		return
	}
	s.logger.Info("replayed dead letters", "topic", name, "partition", req.Partition, "records", len(out.Replayed))
	writeJSON(w, http.StatusOK, out)
}

// badReplay is a request naming records that cannot be replayed.
type badReplay struct{ msg string }

func (b badReplay) Error() string { return b.msg }

// deadLetters reads the records at offsets (sorted, distinct) of one
// partition and checks that each is a dead letter naming an origin topic.
func (s *Server) deadLetters(ctx context.Context, topic string, partition int32, offsets []int64) ([]log.Record, error) {
	out := make([]log.Record, 0, len(offsets))
	var rd *log.Reader
	defer func() {
		if rd != nil {
			_ = rd.Close()
		}
	}()
	var pending []log.Record // fetched records not yet consumed
	for _, off := range offsets {
		for len(pending) > 0 && pending[0].Offset < off {
			pending = pending[1:]
		}
		if len(pending) == 0 {
			if rd != nil {
				_ = rd.Close()
			}
			var err error
			if rd, err = s.eng.Log.NewReader(ctx, topic, partition, off); err != nil {
				if errors.Is(err, log.ErrOffsetOutOfRange) {
					return nil, badReplay{fmt.Sprintf("%s partition %d has no record at offset %d", topic, partition, off)}
				}
				return nil, err
			}
			recs, err := rd.Fetch(ctx, maxReplay, 4<<20, 200*time.Millisecond)
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			pending = recs
		}
		if len(pending) == 0 || pending[0].Offset != off {
			return nil, badReplay{fmt.Sprintf("%s partition %d has no record at offset %d", topic, partition, off)}
		}
		rec := pending[0]
		if header(rec.Headers, worker.HeaderDLQTopic) == "" {
			return nil, badReplay{fmt.Sprintf("%s/%d/%d has no %s header: it is not a dead letter of a record read from a topic, so it has nowhere to go back to",
				topic, partition, off, worker.HeaderDLQTopic)}
		}
		out = append(out, rec)
	}
	return out, nil
}

// header returns the last value of key in hs.
func header(hs []log.Header, key string) string {
	v := ""
	for _, h := range hs {
		if h.Key == key {
			v = h.Value
		}
	}
	return v
}
