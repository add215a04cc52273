package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// SinkPlugin returns the audit sink connector.
func SinkPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: spec(), NewSink: func(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
		return NewSink(cfg, env)
	}}
}

func spec() sdk.Spec {
	return sdk.Spec{
		Name:    "audit",
		Kind:    sdk.KindSink,
		Summary: "Appends every record to a tamper-evident, hash-chained JSON-lines log.",
		Doc: "Each line is `{seq, time, topic, partition, offset, key, value, prev_hash, hash}`: `value` is the " +
			"record's JSON, or its base64 with `value_encoding: base64`; `hash` is the SHA-256 of the line's " +
			"canonical JSON without `hash`, so each entry seals all before it. Files rotate daily (UTC) as " +
			"`audit-YYYY-MM-DD.jsonl`; the chain continues across files and restarts. Flush fsyncs. On open the " +
			"whole chain is verified (a broken chain stops the sink) and replayed records (offsets already in " +
			"the log) are skipped. Check a log with `braid audit verify PATH`.",
		Fields: []sdk.Field{
			{Name: "path", Type: sdk.TypeString, Path: true, Required: true,
				Doc: "Directory of the audit files; the sink never writes outside it.", Example: "/var/lib/braid/audit"},
		},
		// Two tasks appending to one chain would break it.
		MaxTasks: 1,
	}
}

// Sink is the audit sink.
type Sink struct {
	dir string
	log *slog.Logger
	now func() time.Time

	root *os.Root
	f    *os.File
	w    *bufio.Writer
	day  string
	cur  cut   // the current file and its size at the last Flush
	size int64 // bytes written to the current file, buffered or not
	// rotated holds the files rotated away since the last Flush, with
	// their sizes at the last Flush: Close cuts them back.
	rotated []cut

	seq      int64
	lastHash string
	broken   error // set when a write failed half-way; Open again to recover

	mu      sync.Mutex
	offsets map[sdk.TopicPartition]int64 // written (maybe buffered)
	durable map[sdk.TopicPartition]int64 // fsynced
}

// cut is an audit file and the size it had when the sink last flushed.
type cut struct {
	name string
	size int64
}

// NewSink builds the sink from validated settings.
func NewSink(cfg sdk.Config, env sdk.Env) (*Sink, error) {
	if env.Task >= spec().MaxTasks {
		// Lint, the API and the worker refuse more tasks (WorkerSpec); this
		// guards callers that build the sink themselves.
		return nil, sdk.Fatal(fmt.Errorf("audit sink %s: tasks: the audit log is one hash chain per directory; run it with tasks: 1", env.Connector))
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Sink{dir: cfg.String("path"), log: logger, now: time.Now}, nil
}

// Open verifies the existing chain and continues it.
func (s *Sink) Open(_ context.Context) error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return sdk.Fatal(fmt.Errorf("audit: path %q: %w", s.dir, err))
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("audit: path %q: %w", s.dir, err))
	}
	s.root = root
	rep, err := s.load()
	if err != nil {
		root.Close()
		return err
	}
	s.seq, s.lastHash = rep.LastSeq, rep.LastHash
	s.mu.Lock()
	s.offsets, s.durable = rep.Offsets, maps.Clone(rep.Offsets)
	s.mu.Unlock()
	s.broken = nil
	s.log.Info("audit log opened", "path", s.dir, "files", rep.Files, "entries", rep.Entries, "seq", rep.LastSeq)
	return nil
}

// load verifies every file and cuts a torn last line (a write the worker
// never saw flushed, so it replays it).
func (s *Sink) load() (Report, error) {
	names, err := auditFiles(s.root.FS())
	if err != nil {
		return Report{}, sdk.Fatal(fmt.Errorf("audit: list %q: %w", s.dir, err))
	}
	c := newChain(false)
	for i, name := range names {
		var torn int64 = -1
		var tornp *int64
		if i == len(names)-1 {
			tornp = &torn
		}
		if err := s.scanFile(c, name, tornp); err != nil {
			return c.report, err
		}
		if torn >= 0 {
			s.log.Warn("audit: cutting an incomplete last line", "file", name, "at", torn)
			if err := s.truncate(name, torn); err != nil {
				return c.report, err
			}
		}
	}
	c.report.Files = len(names)
	return c.report, nil
}

func (s *Sink) scanFile(c *chain, name string, torn *int64) error {
	f, err := s.root.Open(name)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("audit: %w", err))
	}
	defer f.Close()
	if err := c.scan(f, name, torn); err != nil {
		var verr *VerifyError
		if errors.As(err, &verr) {
			return sdk.Fatal(fmt.Errorf("audit: chain in %s is broken, refusing to append: %w", s.dir, err))
		}
		return sdk.Retryable(fmt.Errorf("audit: read %s: %w", name, err))
	}
	return nil
}

func (s *Sink) truncate(name string, size int64) error {
	f, err := s.root.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("audit: %w", err))
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return sdk.Fatal(fmt.Errorf("audit: cut %s: %w", name, err))
	}
	return f.Sync()
}

// Write appends the records not yet in the log. A record that cannot be
// encoded is reported in a *sdk.BatchError; the others are appended.
func (s *Sink) Write(_ context.Context, records []sdk.Record) error {
	if s.broken != nil {
		return s.broken
	}
	var bad []sdk.RecordError
	for i := range records {
		r := &records[i]
		tp := sdk.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		s.mu.Lock()
		last, seen := s.offsets[tp]
		s.mu.Unlock()
		if seen && r.Offset <= last {
			continue // a replay: already in the chain
		}
		now := s.now().UTC()
		e, err := newEntry(r, now)
		if err != nil {
			bad = append(bad, sdk.RecordError{Index: i, Err: err})
			continue
		}
		if err := s.append(now, &e); err != nil {
			s.broken = sdk.Retryable(fmt.Errorf("audit: %s: %w", r.Where(), err))
			return s.broken
		}
		s.mu.Lock()
		s.offsets[tp] = r.Offset
		s.mu.Unlock()
	}
	if len(bad) > 0 {
		return &sdk.BatchError{Records: bad}
	}
	return nil
}

func (s *Sink) append(now time.Time, e *Entry) error {
	if day := now.Format("2006-01-02"); day != s.day {
		if err := s.rotate(day); err != nil {
			return err
		}
	}
	line, err := e.seal(s.seq+1, s.lastHash)
	if err != nil {
		return err
	}
	n, err := s.w.Write(line)
	s.size += int64(n)
	if err != nil {
		return err
	}
	s.seq, s.lastHash = e.Seq, e.Hash
	return nil
}

// rotate makes the previous file durable and opens the day's file.
func (s *Sink) rotate(day string) error {
	if s.f != nil && s.size > s.cur.size {
		s.rotated = append(s.rotated, s.cur)
	}
	if err := s.closeFile(); err != nil {
		return err
	}
	name := "audit-" + day + ".jsonl"
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		err = syncDir(s.root)
	}
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.w, s.day = f, bufio.NewWriterSize(f, 256<<10), day
	s.cur, s.size = cut{name: name, size: st.Size()}, st.Size()
	return nil
}

func syncDir(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Sink) closeFile() error {
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.w.Flush(), s.f.Sync(), s.f.Close())
	s.f, s.w, s.day = nil, nil, ""
	return err
}

// Flush writes buffered entries and fsyncs the file.
func (s *Sink) Flush(_ context.Context) error {
	if s.broken != nil {
		return s.broken
	}
	if s.f != nil {
		if err := s.w.Flush(); err != nil {
			s.broken = sdk.Retryable(fmt.Errorf("audit: write %s: %w", s.f.Name(), err))
			return s.broken
		}
		if err := s.f.Sync(); err != nil {
			s.broken = sdk.Retryable(fmt.Errorf("audit: fsync %s: %w", s.f.Name(), err))
			return s.broken
		}
	}
	s.cur.size, s.rotated = s.size, nil
	s.mu.Lock()
	s.durable = maps.Clone(s.offsets)
	s.mu.Unlock()
	return nil
}

// Close abandons the entries appended since the last Flush, cutting the
// files back to their flushed sizes, and closes them. The worker flushes
// before a clean stop; after a failure those records were not committed and
// are replayed, so keeping them would claim offsets the worker never
// confirmed (and, after a rejected record, ones it never handled).
func (s *Sink) Close(context.Context) error {
	var err error
	if s.f != nil {
		_ = s.f.Close() // without flushing the buffer
		if s.size > s.cur.size {
			s.rotated = append(s.rotated, s.cur)
		}
		s.f, s.w, s.day = nil, nil, ""
	}
	for _, c := range slices.Backward(s.rotated) {
		err = errors.Join(err, s.truncate(c.name, c.size))
	}
	s.rotated = nil
	s.mu.Lock()
	s.offsets = maps.Clone(s.durable)
	s.mu.Unlock()
	if s.root != nil {
		err = errors.Join(err, s.root.Close())
		s.root = nil
	}
	return err
}

// WrittenOffsets reports the last offset fsynced per partition, so the
// worker resumes after it.
func (s *Sink) WrittenOffsets(_ context.Context, parts []sdk.TopicPartition) (map[sdk.TopicPartition]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[sdk.TopicPartition]int64{}
	for _, tp := range parts {
		if off, ok := s.durable[tp]; ok {
			out[tp] = off
		}
	}
	return out, nil
}

var (
	_ sdk.Sink          = (*Sink)(nil)
	_ sdk.OffsetTracker = (*Sink)(nil)
)
