package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

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
func (w *Worker) SourcePositions(ctx context.Context, name string) ([]SourcePosition, error) {
	keys, err := w.positions.Keys(ctx, name+"/")
	if err != nil {
		return nil, fmt.Errorf("connector %s: list positions: %w", name, err)
	}
	var out []SourcePosition
	for _, k := range keys {
		id, err := strconv.Atoi(strings.TrimPrefix(k, name+"/"))
		if err != nil {
			continue // another connector whose name starts with name + "/"
		}
		e, err := w.positions.Get(ctx, k)
		if errors.Is(err, log.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("connector %s task %d: read position: %w", name, id, err)
		}
		var sp storedPosition
		if err := json.Unmarshal(e.Value, &sp); err != nil {
			return nil, fmt.Errorf("connector %s task %d: stored position: %w", name, id, err)
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
// topic's current end, so batches the task published before are not mistaken
// for a newer position when it restarts.
func (w *Worker) SetSourcePosition(ctx context.Context, name, topic string, task int, pos []byte) error {
	seq, err := w.lastSeq(ctx, topic)
	if err != nil {
		return fmt.Errorf("connector %s task %d: %w", name, task, err)
	}
	raw, err := json.Marshal(storedPosition{Position: pos, Seq: seq})
	if err != nil {
		return err
	}
	if _, err := w.positions.Put(ctx, fmt.Sprintf("%s/%d", name, task), raw); err != nil {
		return fmt.Errorf("connector %s task %d: store position: %w", name, task, err)
	}
	return nil
}

// lastSeq returns the highest stream sequence stored in topic (0 when it is
// empty or gone).
func (w *Worker) lastSeq(ctx context.Context, topic string) (uint64, error) {
	info, err := w.log.Topic(ctx, topic)
	if errors.Is(err, log.ErrTopicNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	var last uint64
	for _, p := range info.Partitions {
		if p.LastOffset >= 0 {
			last = max(last, uint64(p.LastOffset)>>log.IndexBits)
		}
	}
	return last, nil
}

// State returns a connector's state (RUNNING, PAUSED, STOPPED, ...).
func (w *Worker) State(name string) (State, error) {
	c, err := w.get(name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, nil
}
