package serde

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/convert"
	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/wire"
)

// Strategy chooses the subject a record's schema is registered under.
type Strategy string

// Confluent's subject name strategies.
const (
	// TopicStrategy uses "<topic>-value" (or "<topic>-key").
	TopicStrategy Strategy = "topic"
	// RecordStrategy uses the record's fully-qualified name.
	RecordStrategy Strategy = "record"
	// TopicRecordStrategy uses "<topic>-<record name>".
	TopicRecordStrategy Strategy = "topic-record"
)

// Options configure a registry converter; they come from the converter block
// of a pipeline file.
type Options struct {
	// Subject, when set, is used for every topic instead of the strategy.
	Subject string
	// Strategy names subjects; default topic.
	Strategy Strategy
	// Key makes the topic strategy use "-key" instead of "-value".
	Key bool
	// AutoRegister registers schemas of encoded records (default true).
	AutoRegister bool
	// UseLatest encodes with the subject's latest schema instead of the
	// record's own; implies no auto-registration.
	UseLatest bool
}

// ParseOptions reads options from a pipeline's converter block.
func ParseOptions(m map[string]any) (Options, error) {
	o := Options{Strategy: TopicStrategy, AutoRegister: true}
	for k, v := range m {
		var err error
		switch k {
		case "subject":
			o.Subject, err = asString(k, v)
		case "subject.name.strategy", "strategy":
			var s string
			s, err = asString(k, v)
			o.Strategy = Strategy(strings.ToLower(s))
			if err == nil && o.Strategy != TopicStrategy && o.Strategy != RecordStrategy && o.Strategy != TopicRecordStrategy {
				err = fmt.Errorf("converter option %q: %q is not topic, record or topic-record", k, s)
			}
		case "key", "is.key":
			o.Key, err = asBool(k, v)
		case "auto.register", "auto.register.schemas":
			o.AutoRegister, err = asBool(k, v)
		case "use.latest.version":
			o.UseLatest, err = asBool(k, v)
		default:
			err = fmt.Errorf("converter option %q is unknown (known: subject, subject.name.strategy, key, auto.register, use.latest.version)", k)
		}
		if err != nil {
			return o, err
		}
	}
	if o.UseLatest {
		o.AutoRegister = false
	}
	return o, nil
}

func asString(k string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("converter option %q: want a string, got %T", k, v)
	}
	return s, nil
}

func asBool(k string, v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		switch strings.ToLower(b) {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	return false, fmt.Errorf("converter option %q: want true or false, got %v", k, v)
}

// format is what differs between avro, protobuf and jsonschema.
type format interface {
	name() string
	registryFormat() registry.Format
	// fromStructured renders a structured schema in the format.
	fromStructured(s *schema.Schema) (registry.Schema, error)
	// compile prepares a registered schema for encoding and decoding.
	compile(p registry.Parsed) (codec, error)
}

// codec encodes and decodes payloads of one registered schema.
type codec interface {
	decode(payload []byte) (map[string]any, error)
	// encode appends the payload (after the 5-byte header) to dst.
	encode(dst []byte, v map[string]any) ([]byte, error)
	structured() *schema.Schema
	recordName() string
}

// entry is one schema id ready for use.
type entry struct {
	id     int
	codec  codec
	schema *schema.Schema
}

// maxCached bounds the per-schema caches; ids are few in practice.
const maxCached = 4096

// Converter is a schema-registry converter.
type Converter struct {
	reg  *registry.Registry
	f    format
	opts Options

	mu       sync.RWMutex
	byID     map[int]*entry
	bySchema map[*schema.Schema]*entry // encode: the source's schema value
	byText   map[string]*entry         // encode: same schema, new pointer
	latest   map[string]latestEntry    // encode without a schema
}

// latestRefresh is how long the latest version of a subject is trusted
// before the registry is asked again, so new versions are picked up.
const latestRefresh = time.Minute

type latestEntry struct {
	*entry
	fetched time.Time
}

func newConverter(reg *registry.Registry, f format, opts Options) *Converter {
	return &Converter{reg: reg, f: f, opts: opts, byID: map[int]*entry{},
		bySchema: map[*schema.Schema]*entry{}, byText: map[string]*entry{}, latest: map[string]latestEntry{}}
}

// Name implements convert.Converter.
func (c *Converter) Name() string { return c.f.name() }

// Decode implements convert.Converter.
func (c *Converter) Decode(ctx context.Context, topic string, data []byte) (map[string]any, *schema.Schema, error) {
	id, payload, err := wire.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s decode (topic %q): %w", c.f.name(), topic, err)
	}
	e, err := c.byIDEntry(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("%s decode (topic %q, schema id %d): %w", c.f.name(), topic, id, err)
	}
	m, err := e.codec.decode(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%s decode (topic %q, schema id %d): %w", c.f.name(), topic, id, err)
	}
	return m, e.schema, nil
}

// Encode implements convert.Converter.
func (c *Converter) Encode(ctx context.Context, topic string, value map[string]any, s *schema.Schema) ([]byte, error) {
	e, err := c.encodeEntry(ctx, topic, s)
	if err != nil {
		return nil, fmt.Errorf("%s encode (topic %q): %w", c.f.name(), topic, err)
	}
	out, err := e.codec.encode(wire.AppendHeader(make([]byte, 0, 128), e.id), value)
	if err != nil {
		return nil, fmt.Errorf("%s encode (topic %q, schema id %d): %w", c.f.name(), topic, e.id, err)
	}
	return out, nil
}

func (c *Converter) byIDEntry(ctx context.Context, id int) (*entry, error) {
	c.mu.RLock()
	e, ok := c.byID[id]
	c.mu.RUnlock()
	if ok {
		return e, nil
	}
	p, err := c.reg.ParsedByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Format() != c.f.registryFormat() {
		return nil, fmt.Errorf("schema id %d is %s, not %s", id, p.Format(), c.f.registryFormat())
	}
	cd, err := c.f.compile(p)
	if err != nil {
		return nil, err
	}
	st := cd.structured()
	st.Ref = &schema.Ref{ID: id, Format: string(p.Format())}
	e = &entry{id: id, codec: cd, schema: st}
	c.mu.Lock()
	if len(c.byID) >= maxCached {
		clear(c.byID)
	}
	c.byID[id] = e
	c.mu.Unlock()
	return e, nil
}

// subject names the subject for a topic and record name.
func (c *Converter) subject(topic, record string) (string, error) {
	if c.opts.Subject != "" {
		return c.opts.Subject, nil
	}
	switch c.opts.Strategy {
	case RecordStrategy, TopicRecordStrategy:
		if record == "" {
			return "", fmt.Errorf("subject strategy %s needs a record name, and the schema has none", c.opts.Strategy)
		}
		if c.opts.Strategy == RecordStrategy {
			return record, nil
		}
		return topic + "-" + record, nil
	}
	if c.opts.Key {
		return topic + "-key", nil
	}
	return topic + "-value", nil
}

func (c *Converter) encodeEntry(ctx context.Context, topic string, s *schema.Schema) (*entry, error) {
	if s == nil || c.opts.UseLatest {
		return c.latestEntry(ctx, topic, s)
	}
	c.mu.RLock()
	e, ok := c.bySchema[s]
	c.mu.RUnlock()
	if ok {
		return e, nil
	}
	text, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	key := topic + "\x00" + string(text)
	c.mu.RLock()
	e, ok = c.byText[key]
	c.mu.RUnlock()
	if !ok {
		if e, err = c.resolve(ctx, topic, s); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if len(c.bySchema) >= maxCached {
		clear(c.bySchema)
		clear(c.byText)
	}
	c.bySchema[s] = e
	c.byText[key] = e
	c.mu.Unlock()
	return e, nil
}

// resolve registers (or looks up) a source's schema and compiles it.
func (c *Converter) resolve(ctx context.Context, topic string, s *schema.Schema) (*entry, error) {
	rs, err := c.f.fromStructured(s)
	if err != nil {
		return nil, err
	}
	parsed, err := c.reg.Parse(ctx, rs)
	if err != nil {
		return nil, err
	}
	cd, err := c.f.compile(parsed)
	if err != nil {
		return nil, err
	}
	subject, err := c.subject(topic, cd.recordName())
	if err != nil {
		return nil, err
	}
	var id int
	if c.opts.AutoRegister {
		id, err = c.reg.Register(ctx, subject, rs, registry.RegisterOptions{})
	} else {
		var v *registry.Version
		v, err = c.reg.Lookup(ctx, subject, rs, false)
		if v != nil {
			id = v.ID
		}
		if errors.Is(err, registry.ErrSchemaNotFound) || errors.Is(err, registry.ErrSubjectNotFound) {
			err = fmt.Errorf("schema not registered under subject %q and auto.register is off: %w", subject, err)
		}
	}
	if err != nil {
		return nil, err
	}
	return c.byIDEntry(ctx, id)
}

// latestEntry encodes with the subject's latest version.
func (c *Converter) latestEntry(ctx context.Context, topic string, s *schema.Schema) (*entry, error) {
	record := ""
	if s != nil {
		record = s.Name
	}
	subject, err := c.subject(topic, record)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	le, ok := c.latest[subject]
	c.mu.RUnlock()
	if ok && time.Since(le.fetched) < latestRefresh {
		return le.entry, nil
	}
	v, err := c.reg.Version(ctx, subject, registry.Latest, false)
	if err != nil {
		return nil, fmt.Errorf("latest schema of subject %q: %w", subject, err)
	}
	e, err := c.byIDEntry(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.latest[subject] = latestEntry{entry: e, fetched: time.Now()}
	c.mu.Unlock()
	return e, nil
}

// Factories returns the avro, protobuf and jsonschema converter factories
// for explicit registration with schema/convert. reg may be nil, in which
// case each converter takes the registry from convert.Env.
func Factories(reg *registry.Registry) map[string]convert.Factory {
	mk := func(f format) convert.Factory {
		return func(opts map[string]any, env convert.Env) (convert.Converter, error) {
			r := reg
			if r == nil {
				r, _ = env.Registry.(*registry.Registry)
			}
			if r == nil {
				return nil, fmt.Errorf("converter %s needs a schema registry, and none is configured", f.name())
			}
			o, err := ParseOptions(opts)
			if err != nil {
				return nil, err
			}
			return newConverter(r, f, o), nil
		}
	}
	return map[string]convert.Factory{
		"avro":       mk(avroFormat{}),
		"protobuf":   mk(protoFormat{}),
		"jsonschema": mk(jsonFormat{}),
	}
}

// New returns a converter for format name ("avro", "protobuf", "jsonschema").
func New(reg *registry.Registry, name string, opts Options) (*Converter, error) {
	switch name {
	case "avro":
		return newConverter(reg, avroFormat{}, opts), nil
	case "protobuf":
		return newConverter(reg, protoFormat{}, opts), nil
	case "jsonschema":
		return newConverter(reg, jsonFormat{}, opts), nil
	}
	return nil, fmt.Errorf("%w %q", convert.ErrUnknown, name)
}
