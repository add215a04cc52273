package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/braidhq/braid/runtime/log"
)

// maxBrowse bounds records per GET /topics/{name}/records.
const maxBrowse = 1000

func (s *Server) topicRoutes() {
	s.mux.HandleFunc("GET /topics", s.listTopics)
	s.mux.HandleFunc("GET /topics/{name}", s.getTopic)
	s.mux.HandleFunc("GET /topics/{name}/records", s.getRecords)
	s.mux.HandleFunc("POST /topics/{name}/replay", s.replay)
}

func (s *Server) topicError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, log.ErrTopicNotFound):
		writeError(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, log.ErrInvalidTopicName), errors.Is(err, log.ErrOffsetOutOfRange):
		writeError(w, http.StatusBadRequest, "%v", err)
	default:
		s.logger.Error("api topic request failed", "err", err)
		writeError(w, http.StatusInternalServerError, "%v", err)
	}
}

func (s *Server) listTopics(w http.ResponseWriter, r *http.Request) {
	topics, err := s.eng.Log.Topics(r.Context())
	if err != nil {
		s.topicError(w, err)
		return
	}
	if topics == nil {
		topics = []log.TopicInfo{}
	}
	writeJSON(w, http.StatusOK, topics)
}

// TopicDetail is GET /topics/{name}: the topic and its consumer groups' lag.
type TopicDetail struct {
	log.TopicInfo
	Groups []GroupLag `json:"groups"`
}

// GroupLag is one consumer group's position on a topic.
type GroupLag struct {
	Group     string          `json:"group"`
	Committed map[int32]int64 `json:"committed"`
	Lag       map[int32]int64 `json:"lag"`
	TotalLag  int64           `json:"total_lag"`
}

func (s *Server) getTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	info, err := s.eng.Log.Topic(r.Context(), name)
	if err != nil {
		s.topicError(w, err)
		return
	}
	groups, err := s.groupLags(r.Context(), name)
	if err != nil {
		s.topicError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, TopicDetail{TopicInfo: info, Groups: groups})
}

// groupLags returns the lag of every group that committed on topic.
func (s *Server) groupLags(ctx context.Context, topic string) ([]GroupLag, error) {
	names, err := s.eng.Log.Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := []GroupLag{}
	for _, g := range names {
		committed, err := s.eng.Log.CommittedOffsets(ctx, g, topic)
		if err != nil {
			return nil, err
		}
		if len(committed) == 0 {
			continue
		}
		lag, err := s.eng.Log.Lag(ctx, g, topic)
		if err != nil {
			return nil, err
		}
		gl := GroupLag{Group: g, Committed: committed, Lag: lag}
		for _, n := range lag {
			gl.TotalLag += n
		}
		out = append(out, gl)
	}
	return out, nil
}

// BrowsedRecord is one record as the browse route shows it. Value and Key
// are JSON when they parse as JSON, else text, else base64 (the *_encoding
// fields say which).
type BrowsedRecord struct {
	Partition     int32             `json:"partition"`
	Offset        int64             `json:"offset"`
	Timestamp     time.Time         `json:"timestamp"`
	Key           any               `json:"key,omitempty"`
	KeyEncoding   string            `json:"key_encoding,omitempty"`
	Value         any               `json:"value"`
	ValueEncoding string            `json:"value_encoding"`
	Headers       map[string]string `json:"headers,omitempty"`
	// With decode=schema: keys and values in the schema registry's wire
	// format, decoded with their schema, and that schema.
	KeyDecoded   any        `json:"key_decoded,omitempty"`
	KeySchema    *SchemaRef `json:"key_schema,omitempty"`
	ValueDecoded any        `json:"value_decoded,omitempty"`
	ValueSchema  *SchemaRef `json:"value_schema,omitempty"`
	DecodeError  string     `json:"decode_error,omitempty"`
}

// Records is GET /topics/{name}/records' answer; NextOffset is where the
// next page starts.
type Records struct {
	Topic      string          `json:"topic"`
	Partition  int32           `json:"partition"`
	Records    []BrowsedRecord `json:"records"`
	NextOffset int64           `json:"next_offset"`
}

func (s *Server) getRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := r.PathValue("name")
	partition, err1 := queryInt(q.Get("partition"), 0)
	from, err2 := queryInt(q.Get("offset"), log.Earliest)
	limit, err3 := queryInt(q.Get("limit"), 100)
	if err := errors.Join(err1, err2, err3); err != nil || partition < 0 || limit <= 0 {
		writeError(w, http.StatusBadRequest, "partition, offset and limit must be whole numbers (partition ≥ 0, limit > 0)")
		return
	}
	limit = min(limit, maxBrowse)
	raw := false
	switch q.Get("encoding") {
	case "":
	case "base64":
		raw = true
	default:
		writeError(w, http.StatusBadRequest, "encoding must be base64 or left out, not %s", quote(q.Get("encoding")))
		return
	}
	var dec *recordDecoder
	switch q.Get("decode") {
	case "":
	case "schema":
		dec = newRecordDecoder(s.eng.Schemas)
	default:
		writeError(w, http.StatusBadRequest, "decode must be schema or left out, not %s", quote(q.Get("decode")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if ts := q.Get("time"); ts != "" {
		if q.Get("offset") != "" {
			writeError(w, http.StatusBadRequest, "give offset or time, not both")
			return
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			writeError(w, http.StatusBadRequest, "time must be RFC 3339 (2026-01-02T15:04:05Z), not %s", quote(ts))
			return
		}
		if from, err1 = s.eng.Log.OffsetForTime(ctx, name, int32(partition), at); err1 != nil {
			s.topicError(w, err1)
			return
		}
	}
	if q.Get("offset") == "latest" || from == log.Latest {
		// A concrete offset, so that the next page (a tail) misses nothing.
		if from, err1 = s.endOffset(ctx, name, int32(partition)); err1 != nil {
			s.topicError(w, err1)
			return
		}
	}
	rd, err := s.eng.Log.NewReader(ctx, name, int32(partition), from)
	if err != nil {
		s.topicError(w, err)
		return
	}
	defer func() { _ = rd.Close() }()
	recs, err := fetchUpTo(ctx, rd, int(limit), 4<<20)
	if err != nil {
		s.topicError(w, err)
		return
	}
	out := Records{Topic: name, Partition: int32(partition), Records: []BrowsedRecord{}, NextOffset: from}
	for _, rec := range recs {
		br := BrowsedRecord{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp}
		br.Value, br.ValueEncoding = show(rec.Value, raw)
		if rec.Key != nil {
			br.Key, br.KeyEncoding = show(rec.Key, raw)
		}
		s.decodeRecord(ctx, dec, name, rec, &br)
		if len(rec.Headers) > 0 {
			br.Headers = map[string]string{}
			for _, h := range rec.Headers {
				br.Headers[h.Key] = h.Value
			}
		}
		out.Records = append(out.Records, br)
		out.NextOffset = rec.Offset + 1
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeRecord fills br's decoded fields (decode=schema).
func (s *Server) decodeRecord(ctx context.Context, dec *recordDecoder, topic string, rec log.Record, br *BrowsedRecord) {
	if dec == nil {
		return
	}
	var errs []error
	var err error
	if br.KeyDecoded, br.KeySchema, err = dec.decode(ctx, topic, rec.Key); err != nil {
		errs = append(errs, fmt.Errorf("key: %w", err))
	}
	if br.ValueDecoded, br.ValueSchema, err = dec.decode(ctx, topic, rec.Value); err != nil {
		errs = append(errs, fmt.Errorf("value: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		br.DecodeError = err.Error()
	}
}

// fetchUpTo reads up to limit records (and maxBytes): a Fetch answers
// with what one stored batch holds, so it fetches again while records keep
// coming, waiting 200 ms for the first and 50 ms for each next batch.
func fetchUpTo(ctx context.Context, rd *log.Reader, limit, maxBytes int) ([]log.Record, error) {
	var out []log.Record
	wait := 200 * time.Millisecond
	for len(out) < limit && maxBytes > 0 {
		recs, err := rd.Fetch(ctx, limit-len(out), maxBytes, wait)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			maxBytes -= len(r.Key) + len(r.Value)
		}
		out = append(out, recs...)
		wait = 50 * time.Millisecond
	}
	return out, nil
}

// endOffset returns the offset after a partition's last record (Earliest
// when it is empty).
func (s *Server) endOffset(ctx context.Context, topic string, partition int32) (int64, error) {
	info, err := s.eng.Log.Topic(ctx, topic)
	if err != nil {
		return 0, err
	}
	for _, p := range info.Partitions {
		if p.Partition == partition && p.LastOffset >= 0 {
			return p.LastOffset + 1, nil
		}
	}
	return log.Earliest, nil
}

// show renders bytes as JSON when they are, else text, else base64; raw
// always as base64 (the exact bytes, for the console's hex view).
func show(b []byte, raw bool) (any, string) {
	switch {
	case b == nil:
		return nil, "null"
	case raw:
		return base64.StdEncoding.EncodeToString(b), "base64"
	case json.Valid(b):
		return json.RawMessage(b), "json"
	case isText(b):
		return string(b), "string"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func queryInt(v string, def int64) (int64, error) {
	switch v {
	case "":
		return def, nil
	case "earliest":
		return log.Earliest, nil
	case "latest":
		return log.Latest, nil
	}
	return strconv.ParseInt(v, 10, 64)
}
