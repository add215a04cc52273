package worker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/transform"
	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/convert"
)

// Header keys the worker sets on records and dead letters.
const (
	HeaderOp     = "braid.op"
	HeaderBefore = "braid.before"

	HeaderDLQStage     = "braid.dlq.stage"
	HeaderDLQConnector = "braid.dlq.connector"
	HeaderDLQTask      = "braid.dlq.task"
	HeaderDLQTopic     = "braid.dlq.topic"
	HeaderDLQPartition = "braid.dlq.partition"
	HeaderDLQOffset    = "braid.dlq.offset"
	HeaderDLQPosition  = "braid.dlq.position"
	HeaderDLQError     = "braid.dlq.error"
	HeaderDLQTime      = "braid.dlq.time"
)

// Stages named in errors and dead letters. StageSource is input the
// source could not parse (sdk.Record.Err): it has no topic or offset, only
// the source's position and its own headers (a peer's address).
const (
	StageSource    = "source"
	StageConvert   = "convert"
	StageTransform = "transform"
	StageWrite     = "write"
	StageProduce   = "produce"
)

// processor converts and transforms records for one task.
type processor struct {
	conv   convert.Converter
	lazy   bool // json: decode only when a transform or sink asks
	opaque bool // bytes, string: a structured value is written as JSON
	chain  transform.Chain
	c      *connector
	taskID int
}

func (c *connector) newProcessor(taskID int) (*processor, error) {
	conv, err := convert.New(c.cfg.Converter.Type, c.cfg.Converter.Options, c.w.opts.ConverterEnv)
	if err != nil {
		return nil, sdk.Fatal(fmt.Errorf("connector %s: converter: %w", c.cfg.Name, err))
	}
	p := &processor{conv: conv, lazy: c.cfg.Converter.Type == "json", c: c, taskID: taskID,
		opaque: c.cfg.Converter.Type == "bytes" || c.cfg.Converter.Type == "string"}
	specs := transform.Specs()
	for i, tc := range c.cfg.Transforms {
		spec, ok := specs[tc.Type]
		if !ok {
			return nil, sdk.Fatal(fmt.Errorf("%w: connector %s: transforms[%d]: unknown transform %q", sdk.ErrInvalidConfig, c.cfg.Name, i, tc.Type))
		}
		cfg, err := spec.Validate(tc.Config)
		if err != nil {
			return nil, sdk.Fatal(fmt.Errorf("connector %s: transforms[%d] (%s): %w", c.cfg.Name, i, tc.Type, err))
		}
		tr, err := transform.New(tc.Type, cfg)
		if err != nil {
			return nil, sdk.Fatal(fmt.Errorf("connector %s: transforms[%d] (%s): %w", c.cfg.Name, i, tc.Type, err))
		}
		p.chain = append(p.chain, tr)
	}
	return p, nil
}

// stageError is a record error at a stage.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// lazyDecoder returns the decoder lazy records of a topic use.
func (p *processor) lazyDecoder(ctx context.Context, topic string) func([]byte) (map[string]any, *schema.Schema, error) {
	return func(b []byte) (map[string]any, *schema.Schema, error) { return p.conv.Decode(ctx, topic, b) }
}

// decode fills Fields from Value with a schema-aware converter. JSON stays
// lazy: the record decodes itself with the converter (set by the reader)
// when someone asks.
func (p *processor) decode(ctx context.Context, rec *sdk.Record) error {
	if p.lazy {
		return nil
	}
	if rec.Value == nil || rec.Fields != nil {
		return nil
	}
	fields, sch, err := p.conv.Decode(ctx, rec.Topic, rec.Value)
	if err != nil {
		return &stageError{StageConvert, err}
	}
	rec.Fields, rec.Schema = fields, sch
	return nil
}

// encode fills Value from Fields when a source or transform left it nil. A
// schema-aware converter encodes Fields even when the source kept its raw
// bytes too (a JSON line): the topic's format is the converter's.
func (p *processor) encode(ctx context.Context, topic string, rec *sdk.Record) error {
	if rec.Fields == nil {
		// A source that handed its fields encoded as JSON (and a decoder)
		// has nothing to encode for a json or opaque topic; a
		// schema-aware converter needs them.
		if rec.Value == nil || p.lazy || p.opaque || !rec.Decodable() {
			return nil
		}
		if _, err := rec.Structured(); err != nil {
			return &stageError{StageConvert, err}
		}
	} else if rec.Value != nil && p.lazy {
		return nil
	}
	b, err := p.conv.Encode(ctx, topic, rec.Fields, rec.Schema)
	if err != nil {
		return &stageError{StageConvert, err}
	}
	rec.Value = b
	return nil
}

// apply runs the transform chain; keep=false drops the record.
func (p *processor) apply(ctx context.Context, rec *sdk.Record) (bool, error) {
	if len(p.chain) == 0 {
		return true, nil
	}
	keep, err := p.chain.Apply(ctx, rec)
	if err != nil {
		return false, &stageError{StageTransform, err}
	}
	return keep, nil
}

// toLog turns an sdk record into a log record.
func toLog(rec *sdk.Record) log.Record {
	lr := log.Record{Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp, Partition: -1}
	if n := len(rec.Headers); n > 0 || rec.Op != "" {
		lr.Headers = make([]log.Header, 0, n+2)
		for _, h := range rec.Headers {
			lr.Headers = append(lr.Headers, log.Header{Key: h.Key, Value: h.Value})
		}
		if rec.Op != "" {
			lr.Headers = append(lr.Headers, log.Header{Key: HeaderOp, Value: string(rec.Op)})
			if rec.Before != nil {
				if b, err := json.Marshal(rec.Before); err == nil {
					lr.Headers = append(lr.Headers, log.Header{Key: HeaderBefore, Value: string(b)})
				}
			}
		}
	}
	return lr
}

// fromLog turns a log record into an sdk record.
func fromLog(topic string, lr log.Record) sdk.Record {
	rec := sdk.Record{Topic: topic, Partition: lr.Partition, Offset: lr.Offset, Key: lr.Key, Value: lr.Value, Timestamp: lr.Timestamp}
	if len(lr.Headers) > 0 {
		rec.Headers = make(sdk.Headers, 0, len(lr.Headers))
		for _, h := range lr.Headers {
			switch h.Key {
			case HeaderOp:
				rec.Op = sdk.Operation(h.Value)
			case HeaderBefore:
				_ = json.Unmarshal([]byte(h.Value), &rec.Before)
			default:
				rec.Headers = append(rec.Headers, sdk.Header{Key: h.Key, Value: h.Value})
			}
		}
	}
	return rec
}

// deadLetters is a task's dead-letter writer: it handles a record error by
// the connector's policy. With tolerance none it returns the error (the task
// fails and the record stays in the log or the source); with tolerance all it
// publishes the record to the dead-letter topic with headers that say what
// failed and where, and waits until the log has it.
type deadLetters struct {
	c    *connector
	t    *task
	prod *log.Producer // opened on the first dead letter
}

func (c *connector) deadLetters(t *task) *deadLetters { return &deadLetters{c: c, t: t} }

func (d *deadLetters) close(ctx context.Context) {
	if d.prod != nil {
		_ = d.prod.Close(ctx)
		d.prod = nil
	}
}

func (d *deadLetters) send(ctx context.Context, rec *sdk.Record, stage string, cause error) error {
	c, t := d.c, d.t
	where := rec.Where()
	if rec.Topic == "" && rec.Position != nil {
		where = fmt.Sprintf("source position %q", rec.Position)
	}
	c.w.metrics.Errors.WithLabelValues(c.cfg.Name, stage).Inc()
	if c.cfg.Errors.Tolerance != ToleranceAll {
		return fmt.Errorf("%s failed for %s: %w", stage, where, cause)
	}
	lr := toLog(rec)
	lr.Partition = 0
	hdr := []log.Header{
		{Key: HeaderDLQStage, Value: stage},
		{Key: HeaderDLQConnector, Value: c.cfg.Name},
		{Key: HeaderDLQTask, Value: strconv.Itoa(t.id)},
		{Key: HeaderDLQError, Value: cause.Error()},
		{Key: HeaderDLQTime, Value: time.Now().UTC().Format(time.RFC3339Nano)},
	}
	if rec.Topic != "" {
		hdr = append(hdr,
			log.Header{Key: HeaderDLQTopic, Value: rec.Topic},
			log.Header{Key: HeaderDLQPartition, Value: strconv.Itoa(int(rec.Partition))},
			log.Header{Key: HeaderDLQOffset, Value: strconv.FormatInt(rec.Offset, 10)})
	}
	if rec.Position != nil {
		hdr = append(hdr, log.Header{Key: HeaderDLQPosition, Value: string(rec.Position)})
	}
	lr.Headers = append(lr.Headers, hdr...)
	if lr.Value == nil && rec.Fields != nil {
		lr.Value, _ = json.Marshal(rec.Fields)
	}
	topic := c.cfg.Errors.DeadLetterTopic
	if err := c.ensureTopic(ctx, topic, 1); err != nil {
		return fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	if d.prod == nil {
		d.prod = c.w.log.Producer(log.ProducerOptions{ID: "dlq." + c.ref(t.id).producer()})
	}
	msgID := ""
	switch {
	case rec.Topic != "":
		msgID = fmt.Sprintf("dlq.%s.%s.%d.%d", c.cfg.Name, rec.Topic, rec.Partition, rec.Offset)
	case rec.Position != nil:
		// A source record read again after a crash (its batch not yet
		// committed) is dead-lettered once within the duplicate window.
		// Records may share a position (the rows of one transaction), so
		// the id covers what the record holds too.
		h := sha256.New()
		for _, b := range [][]byte{rec.Position, lr.Key, lr.Value, []byte(stage)} {
			h.Write(binary.AppendUvarint(nil, uint64(len(b))))
			h.Write(b)
		}
		msgID = "dlq." + c.ref(t.id).producer() + "." + hex.EncodeToString(h.Sum(nil)[:12])
	}
	pend, err := d.prod.Publish(ctx, log.Batch{Topic: topic, Records: []log.Record{lr}, MsgID: msgID})
	if err == nil {
		_, err = pend.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("send %s to dead-letter topic %s: %w", where, topic, err)
	}
	c.w.metrics.DLQ.WithLabelValues(c.cfg.Name).Inc()
	c.w.logger.Warn("record sent to dead-letter topic", "connector", c.cfg.Name, "task", t.id, "stage", stage,
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "position", string(rec.Position), "dlq", topic, "err", cause)
	return nil
}

// ensureTopic creates a topic with the given partitions when it is missing.
func (c *connector) ensureTopic(ctx context.Context, name string, partitions int) error {
	_, err := c.w.log.Topic(ctx, name)
	if errors.Is(err, log.ErrTopicNotFound) {
		err = c.w.log.CreateTopic(ctx, name, log.TopicConfig{Partitions: partitions})
		if errors.Is(err, log.ErrTopicExists) {
			err = nil
		}
	}
	return err
}
