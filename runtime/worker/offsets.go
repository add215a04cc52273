package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/braidhq/braid/runtime/log"
)

// SourcePosition is a source task's committed position, as the offsets API
// shows it.
type SourcePosition struct {
	Task     int
	Position []byte // nil: the task starts from the beginning of its input
}

// SourcePositions returns the committed positions of a source connector's
// tasks, by task id. The connector need not be running.
func (w *Worker) SourcePositions(ctx context.Context, cfg ConnectorConfig) ([]SourcePosition, error) {
	prefix := positionPrefix(cfg.Pipeline, cfg.Name)
	keys, err := w.positions.Keys(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("connector %s: list positions: %w", cfg.Name, err)
	}
	var out []SourcePosition
	for _, k := range keys {
		id, ok := parseTaskSuffix(k, prefix)
		if !ok {
			continue // another connector whose name starts with this one's
		}
		e, err := w.positions.Get(ctx, k)
		if errors.Is(err, log.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("connector %s task %d: read position: %w", cfg.Name, id, err)
		}
		var sp storedPosition
		if err := json.Unmarshal(e.Value, &sp); err != nil {
			return nil, fmt.Errorf("connector %s task %d: stored position: %w", cfg.Name, id, err)
		}
		if sp.Position != nil {
			out = append(out, SourcePosition{Task: id, Position: sp.Position})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out, nil
}

// SetSourcePosition stores where a stopped source task resumes; a nil
// position makes it start from the beginning. The stored sequence is the
// topic's current end, so the batches the task stored before (and their
// fences) are not mistaken for a newer position when it restarts.
func (w *Worker) SetSourcePosition(ctx context.Context, cfg ConnectorConfig, task int, pos []byte) error {
	seq, err := w.log.LastSequence(ctx, cfg.Topic)
	if err != nil {
		return fmt.Errorf("connector %s task %d: %w", cfg.Name, task, err)
	}
	raw, err := json.Marshal(storedPosition{Position: pos, Seq: seq})
	if err != nil {
		return err
	}
	ref := taskRef{pipeline: pipelineOf(cfg.Pipeline), connector: cfg.Name, task: task}
	if _, err := w.positions.Put(ctx, ref.position(), raw); err != nil {
		return fmt.Errorf("connector %s task %d: store position: %w", cfg.Name, task, err)
	}
	return nil
}
