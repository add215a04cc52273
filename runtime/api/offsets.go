package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"unicode"
	"unicode/utf8"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/worker"
)

// The offsets API follows KIP-875. Sink offsets are the consumer group's
// committed offsets: kafka_offset is the last offset the sink durably wrote
// (it resumes after it). Source offsets are the tasks' positions: partition
// {"connector", "task"}, offset {"position": text} or, for positions that
// are not UTF-8 text, {"position_base64": ...}.

func (s *Server) offsetRoutes() {
	s.mux.HandleFunc("GET /connectors/{name}/offsets", s.getOffsets)
	s.mux.HandleFunc("PATCH /connectors/{name}/offsets", s.patchOffsets)
	s.mux.HandleFunc("DELETE /connectors/{name}/offsets", s.deleteOffsets)
}

// Offsets is KIP-875's body.
type Offsets struct {
	Offsets []Offset `json:"offsets"`
}

// Offset is one partition's offset; a nil Offset in PATCH resets it.
type Offset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

func (s *Server) getOffsets(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.eng.Worker.Config(r.PathValue("name"))
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	var out []Offset
	if cfg.Kind == sdk.KindSink {
		out, err = s.sinkOffsets(r.Context(), cfg)
	} else {
		out, err = s.sourceOffsets(r.Context(), cfg)
	}
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, Offsets{Offsets: out})
}

func (s *Server) sinkOffsets(ctx context.Context, cfg worker.ConnectorConfig) ([]Offset, error) {
	out := []Offset{}
	for _, topic := range cfg.Topics {
		committed, err := s.eng.Log.CommittedOffsets(ctx, cfg.Group, topic)
		if err != nil {
			return nil, fmt.Errorf("group %s topic %s: %w", cfg.Group, topic, err)
		}
		parts := make([]int32, 0, len(committed))
		for p := range committed {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			out = append(out, Offset{
				Partition: map[string]any{"kafka_topic": topic, "kafka_partition": p},
				Offset:    map[string]any{"kafka_offset": committed[p]},
			})
		}
	}
	return out, nil
}

func (s *Server) sourceOffsets(ctx context.Context, cfg worker.ConnectorConfig) ([]Offset, error) {
	positions, err := s.eng.Worker.SourcePositions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out := []Offset{}
	for _, p := range positions {
		off := map[string]any{"position": string(p.Position)}
		if !isText(p.Position) {
			off = map[string]any{"position_base64": base64.StdEncoding.EncodeToString(p.Position)}
		}
		out = append(out, Offset{Partition: map[string]any{"connector": cfg.Name, "task": p.Task}, Offset: off})
	}
	return out, nil
}

// isText reports whether b is UTF-8 without control characters (but tab
// and newlines), so that it reads back the same from a JSON string.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// stopped returns the connector's config when it is STOPPED, answering
// otherwise (KIP-875 only alters offsets of stopped connectors).
func (s *Server) stopped(w http.ResponseWriter, r *http.Request) (worker.ConnectorConfig, bool) {
	name := r.PathValue("name")
	cfg, err := s.eng.Worker.Config(name)
	if err != nil {
		s.fail(w, err, nil)
		return cfg, false
	}
	// STOPPED cluster-wide: the target, and every task on every worker.
	ok, why, err := s.eng.Worker.Stopped(r.Context(), name)
	if err != nil {
		s.fail(w, err, nil)
		return cfg, false
	}
	if !ok {
		writeError(w, http.StatusBadRequest, "Connectors must be in the STOPPED state before their offsets can be modified; "+
			"%s (PUT /connectors/%s/stop first, then wait for its tasks to stop)", why, name)
		return cfg, false
	}
	return cfg, true
}

func (s *Server) deleteOffsets(w http.ResponseWriter, r *http.Request) {
	cfg, ok := s.stopped(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if cfg.Kind == sdk.KindSink {
		for _, topic := range cfg.Topics {
			if err := s.eng.Log.DeleteOffsets(ctx, cfg.Group, topic); err != nil {
				s.fail(w, fmt.Errorf("group %s topic %s: %w", cfg.Group, topic, err), nil)
				return
			}
		}
	} else {
		tasks := map[int]bool{}
		for i := range max(cfg.Tasks, 1) {
			tasks[i] = true
		}
		positions, err := s.eng.Worker.SourcePositions(ctx, cfg)
		if err != nil {
			s.fail(w, err, nil)
			return
		}
		for _, p := range positions {
			tasks[p.Task] = true
		}
		for t := range tasks {
			if err := s.eng.Worker.SetSourcePosition(ctx, cfg, t, nil); err != nil {
				s.fail(w, err, nil)
				return
			}
		}
	}
	s.logger.Info("connector offsets reset through the API", "connector", cfg.Name)
	writeJSON(w, http.StatusOK, map[string]string{"message": "The offsets for this connector have been reset successfully"})
}

func (s *Server) patchOffsets(w http.ResponseWriter, r *http.Request) {
	cfg, ok := s.stopped(w, r)
	if !ok {
		return
	}
	var body Offsets
	if !readJSON(w, r, &body) {
		return
	}
	if len(body.Offsets) == 0 {
		writeError(w, http.StatusBadRequest, "offsets: the list is empty")
		return
	}
	var err error
	if cfg.Kind == sdk.KindSink {
		err = s.patchSink(r.Context(), cfg, body.Offsets)
	} else {
		err = s.patchSource(r.Context(), cfg, body.Offsets)
	}
	if err != nil {
		s.fail(w, err, nil)
		return
	}
	s.logger.Info("connector offsets altered through the API", "connector", cfg.Name, "partitions", len(body.Offsets))
	writeJSON(w, http.StatusOK, map[string]string{"message": "The offsets for this connector have been altered successfully"})
}

func (s *Server) patchSink(ctx context.Context, cfg worker.ConnectorConfig, offsets []Offset) error {
	type tp struct {
		topic string
		part  int32
	}
	set := map[tp]*int64{}
	for i, o := range offsets {
		topic := scalar(o.Partition["kafka_topic"])
		if !slices.Contains(cfg.Topics, topic) {
			return flatError{fmt.Sprintf("offsets[%d].partition.kafka_topic", i), fmt.Sprintf("%q is not one of the sink's topics %v", topic, cfg.Topics)}
		}
		p, err := intKey(o.Partition, "kafka_partition")
		if err != nil || o.Partition["kafka_partition"] == nil {
			return flatError{fmt.Sprintf("offsets[%d].partition.kafka_partition", i), "must be a partition number ≥ 0"}
		}
		if o.Offset == nil {
			set[tp{topic, int32(p)}] = nil
			continue
		}
		off, err := intKey(o.Offset, "kafka_offset")
		if err != nil || o.Offset["kafka_offset"] == nil {
			return flatError{fmt.Sprintf("offsets[%d].offset.kafka_offset", i), "must be an offset ≥ 0 (or give \"offset\": null to reset)"}
		}
		v := int64(off)
		set[tp{topic, int32(p)}] = &v
	}
	// The log resets whole topics; a partition reset re-commits the others.
	for _, topic := range cfg.Topics {
		var resets bool
		for k, v := range set {
			resets = resets || (k.topic == topic && v == nil)
		}
		if !resets {
			continue
		}
		committed, err := s.eng.Log.CommittedOffsets(ctx, cfg.Group, topic)
		if err != nil {
			return err
		}
		if err := s.eng.Log.DeleteOffsets(ctx, cfg.Group, topic); err != nil {
			return err
		}
		for p, off := range committed {
			if _, given := set[tp{topic, p}]; !given {
				v := off
				set[tp{topic, p}] = &v
			}
		}
	}
	keys := make([]tp, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].part < keys[j].part
	})
	for _, k := range keys {
		if v := set[k]; v != nil {
			if err := s.eng.Log.CommitOffset(ctx, cfg.Group, k.topic, k.part, *v); err != nil {
				return fmt.Errorf("topic %s partition %d offset %d: %w", k.topic, k.part, *v, err)
			}
		}
	}
	return nil
}

func (s *Server) patchSource(ctx context.Context, cfg worker.ConnectorConfig, offsets []Offset) error {
	for i, o := range offsets {
		if c := scalar(o.Partition["connector"]); c != "" && c != cfg.Name {
			return flatError{fmt.Sprintf("offsets[%d].partition.connector", i), fmt.Sprintf("%q is not %q", c, cfg.Name)}
		}
		task, err := intKey(o.Partition, "task")
		if err != nil || task >= max(cfg.Tasks, 1) {
			return flatError{fmt.Sprintf("offsets[%d].partition.task", i), fmt.Sprintf("must be a task id from 0 to %d", max(cfg.Tasks, 1)-1)}
		}
		var pos []byte
		if o.Offset != nil {
			if b64, ok := o.Offset["position_base64"]; ok {
				if pos, err = base64.StdEncoding.DecodeString(scalar(b64)); err != nil {
					return flatError{fmt.Sprintf("offsets[%d].offset.position_base64", i), "is not base64"}
				}
			} else if p, ok := o.Offset["position"].(string); ok {
				pos = []byte(p)
			} else {
				return flatError{fmt.Sprintf("offsets[%d].offset", i), "give position (text) or position_base64, or null to reset"}
			}
		}
		if err := s.eng.Worker.SetSourcePosition(ctx, cfg, task, pos); err != nil {
			return err
		}
	}
	return nil
}
