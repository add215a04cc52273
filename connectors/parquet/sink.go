package parquet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/braidhq/braid/connectors/internal/parquetenc"
	"github.com/braidhq/braid/connectors/sdk"
)

// Sink writes Parquet files; see the package documentation.
type Sink struct {
	dir          string
	timeField    string
	by           string
	codec        compress.Codec
	rollSize     int64
	rollRecords  int64
	rollInterval time.Duration
	rowGroup     int64
	log          *slog.Logger

	root    *os.Root
	open    map[sdk.TopicPartition]map[string]*outFile // by time directory
	sealed  []*outFile                                 // rolled since the last Flush: synced, not yet named
	broken  error                                      // records written since the last Flush were lost
	spans   map[sdk.TopicPartition][]span
	stale   map[sdk.TopicPartition][]string // unfinished files left by a crash
	dirty   map[string]bool                 // directories with new entries since the last sync
	vals    []pq.Value                      // backing of the rows of one Write
	lastDir dirCache
	last    *outFile  // the file the previous record went to
	noTime  fallbacks // records of this Write without a usable time field
}

// outFile is one Parquet file being written.
type outFile struct {
	tp          sdk.TopicPartition
	dir, tmp    string
	f           *os.File
	w           *pq.Writer
	lay         *parquetenc.Layout
	rows        []pq.Row // rows of the current Write, written at its end
	first, last int64    // offsets of the rows; valid when n > 0
	n, size     int64
	opened      time.Time
}

// NewSink builds a parquet sink from validated settings.
func NewSink(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Sink{
		dir:          filepath.Clean(cfg.String("path")),
		timeField:    cfg.String("time.field"),
		by:           cfg.String("partition.by"),
		codec:        parquetenc.Codec(cfg.String("compression")),
		rollSize:     cfg.Int("roll.size"),
		rollRecords:  cfg.Int("roll.records"),
		rollInterval: cfg.Duration("roll.interval"),
		rowGroup:     cfg.Int("row.group.size"),
		log:          logger,
	}, nil
}

// Open creates the dataset directory, deletes temporary files a crash left
// (their offsets were never committed) and indexes the finished files.
func (s *Sink) Open(ctx context.Context) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return sdk.Fatal(fmt.Errorf("parquet sink: path: create %s: %w", s.dir, err))
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("parquet sink: path: open %s: %w", s.dir, err))
	}
	s.root = root
	s.open = map[sdk.TopicPartition]map[string]*outFile{}
	s.sealed, s.broken, s.last = nil, nil, nil
	s.dirty = map[string]bool{}
	// Unfinished files are removed per partition when this sink first writes
	// to it: other tasks may be writing theirs in the same tree right now.
	s.stale = map[sdk.TopicPartition][]string{}
	spans, err := scan(root.FS(), func(name string) error {
		if tp, ok := parseTemp(name); ok {
			s.stale[tp] = append(s.stale[tp], name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("parquet sink: scan %s: %w", s.dir, err)
	}
	s.spans = spans
	return ctx.Err()
}

// scan indexes finished files; stale temporary files are passed to drop.
func scan(fsys fs.FS, drop func(string) error) (map[sdk.TopicPartition][]span, error) {
	spans := map[sdk.TopicPartition][]span{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if base := path.Base(p); strings.HasPrefix(base, ".part-") && strings.HasSuffix(base, ".tmp") {
			if drop != nil {
				return drop(p)
			}
			return nil
		}
		if tp, sp, ok := parseName(p); ok {
			spans[tp] = append(spans[tp], sp)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return spans, err
}

// bucket names the time directory of a record. A time field that is
// missing or not a time does not lose the record: it is partitioned by
// ingestion time and the reason is returned for a warning.
func (s *Sink) bucket(r *sdk.Record, m map[string]any, now time.Time) (dir string, fallback error) {
	if s.by == "none" {
		return "topic=" + r.Topic, nil
	}
	t, fallback := s.partitionTime(r, m, now)
	t = t.UTC()
	step := int64(3600)
	if s.by == "day" {
		step = 86400
	}
	unit := t.Unix() / step
	if c := &s.lastDir; c.dir != "" && c.unit == unit && c.topic == r.Topic {
		return c.dir, fallback // most records share their neighbour's directory
	}
	dir = "topic=" + r.Topic + "/date=" + t.Format("2006-01-02")
	if s.by == "hour" {
		dir += "/hour=" + t.Format("15")
	}
	s.lastDir = dirCache{topic: r.Topic, unit: unit, dir: dir}
	return dir, fallback
}

// partitionTime is the time field's value, else ingestion time: the log
// timestamp, or now for a record that has none.
func (s *Sink) partitionTime(r *sdk.Record, m map[string]any, now time.Time) (time.Time, error) {
	var fallback error
	if s.timeField != "" {
		v := m[s.timeField]
		if v == nil {
			fallback = fmt.Errorf("time field %q is missing", s.timeField)
		} else if t, err := parquetenc.ToTime(v); err != nil {
			fallback = fmt.Errorf("time field %q: %w", s.timeField, err)
		} else {
			return t, nil
		}
	}
	if r.Timestamp.IsZero() {
		return now, fallback
	}
	return r.Timestamp, fallback
}

// fallbacks counts, within one Write, records partitioned by ingestion time
// although a time field was configured; Write logs one warning for them.
type fallbacks struct {
	n     int
	first *sdk.Record
	err   error
}

func (f *fallbacks) note(r *sdk.Record, err error) {
	if f.n == 0 {
		f.first, f.err = r, err
	}
	f.n++
}

func (f *fallbacks) warn(log *slog.Logger) {
	if f.n == 0 {
		return
	}
	log.Warn("time field missing or not a time; partitioned by ingestion time instead",
		"topic", f.first.Topic, "partition", f.first.Partition, "offset", f.first.Offset,
		"records", f.n, "error", f.err)
	*f = fallbacks{}
}

type dirCache struct {
	topic string
	unit  int64
	dir   string
}

// Write adds records to their files. Records that cannot be written (no
// fields, a value that does not fit its column, a bad topic or time) are
// reported in a *sdk.BatchError; the others are written.
//
// Nothing Write does claims an offset: a rolled file is synced but keeps its
// temporary name until Flush, which the worker calls only after it has dealt
// with the rejected records (dead-letter topic, or a failed task whose Close
// abandons the unflushed files).
func (s *Sink) Write(ctx context.Context, records []sdk.Record) error {
	if s.broken != nil {
		return s.broken
	}
	var bad []sdk.RecordError
	s.vals = s.vals[:0]
	defer s.noTime.warn(s.log)
	now := time.Now()
	for i := range records {
		r := &records[i]
		if err := s.add(r, now); err != nil {
			if sdk.IsRetryable(err) || sdk.IsFatal(err) {
				return err
			}
			bad = append(bad, sdk.RecordError{Index: i, Err: fmt.Errorf("%s: %w", r.Where(), err)})
		}
	}
	if err := s.writePending(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return &sdk.BatchError{Records: bad}
	}
	return nil
}

func (s *Sink) add(r *sdk.Record, now time.Time) error {
	if r.Topic != s.lastDir.topic { // the cached directory's topic was checked
		if err := checkTopic(r.Topic); err != nil {
			return err
		}
	}
	m, err := r.Structured()
	if err != nil {
		return err
	}
	if m == nil {
		return nil // a tombstone has no row
	}
	dir, fallback := s.bucket(r, m, now)
	tp := sdk.TopicPartition{Topic: r.Topic, Partition: r.Partition}
	of := s.last
	if of == nil || of.tp != tp || of.dir != dir {
		of = s.open[tp][dir]
	}
	if of != nil && s.rollInterval > 0 && now.Sub(of.opened) >= s.rollInterval {
		if err := s.sealPartition(tp); err != nil {
			return err
		}
		of = nil
	}
	var prev *parquetenc.Layout
	if of != nil {
		prev = of.lay
	}
	lay, err := parquetenc.For(prev, r.Schema, m)
	if err != nil {
		return err
	}
	if of != nil && lay != of.lay { // the columns changed: start new files
		if err := s.sealPartition(tp); err != nil {
			return err
		}
		of = nil
	}
	if of == nil {
		if of, err = s.create(tp, dir, lay, r.Offset, now); err != nil {
			return err
		}
	}
	start := len(s.vals)
	var size int64
	s.vals, size, err = lay.AppendRow(s.vals, m)
	if err != nil {
		s.vals = s.vals[:start]
		return err
	}
	s.last = of
	row := s.vals[start:len(s.vals):len(s.vals)]
	of.rows = append(of.rows, row)
	if of.n == 0 {
		of.first = r.Offset
	}
	of.last = r.Offset
	of.n++
	of.size += size
	if fallback != nil {
		s.noTime.note(r, fallback)
	}
	if of.n >= s.rollRecords || of.size >= s.rollSize {
		return s.sealPartition(tp)
	}
	return nil
}

func (s *Sink) create(tp sdk.TopicPartition, dir string, lay *parquetenc.Layout, first int64, now time.Time) (*outFile, error) {
	if err := s.root.MkdirAll(dir, 0o755); err != nil {
		return nil, sdk.Retryable(fmt.Errorf("parquet sink: create %s in %s: %w", dir, s.dir, err))
	}
	for _, name := range s.stale[tp] {
		if err := s.root.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("parquet sink: remove stale %s: %w", name, err)
		}
		s.log.Info("removed unfinished file", "file", name)
	}
	delete(s.stale, tp)
	of := &outFile{tp: tp, dir: dir, tmp: tempName(dir, tp.Partition, first), lay: lay, opened: now}
	// Only a replay of the same batch (a retried Write) creates a file at an
	// offset again; its rows replace the sealed file's.
	s.sealed = slices.DeleteFunc(s.sealed, func(o *outFile) bool { return o.tmp == of.tmp })
	f, err := s.root.OpenFile(of.tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("parquet sink: create %s in %s: %w", of.tmp, s.dir, err))
	}
	of.f = f
	of.w = pq.NewWriter(f, lay.Schema(), pq.Compression(s.codec), pq.MaxRowsPerRowGroup(s.rowGroup),
		pq.CreatedBy("braid", "", ""))
	if s.open[tp] == nil {
		s.open[tp] = map[string]*outFile{}
	}
	s.open[tp][dir] = of
	for d := dir; d != "."; d = path.Dir(d) {
		s.dirty[d] = true
	}
	s.dirty["."] = true
	return of, nil
}

// writePending hands each file the rows of the current Write.
func (s *Sink) writePending() error {
	for _, files := range s.open {
		for _, of := range files {
			if err := of.flushRows(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (of *outFile) flushRows() error {
	if len(of.rows) == 0 {
		return nil
	}
	_, err := of.w.WriteRows(of.rows)
	clear(of.rows)
	of.rows = of.rows[:0]
	if err != nil {
		return sdk.Retryable(fmt.Errorf("parquet sink: write %s: %w", of.tmp, err))
	}
	return nil
}

// sealPartition seals every open file of a partition together; Flush names
// them in the same order, so the largest offset in the finished names is
// durable with all before it.
func (s *Sink) sealPartition(tp sdk.TopicPartition) error {
	files := s.open[tp]
	delete(s.open, tp)
	if s.last != nil && s.last.tp == tp {
		s.last = nil
	}
	var errs []error
	for _, of := range files {
		errs = append(errs, s.seal(of))
	}
	return errors.Join(errs...)
}

// seal makes one file durable under its temporary name. A file without rows
// is removed instead: it claims nothing.
func (s *Sink) seal(of *outFile) error {
	err := of.flushRows()
	if err == nil {
		err = of.w.Close()
	}
	if err == nil {
		err = of.f.Sync()
	}
	if cerr := of.f.Close(); err == nil {
		err = cerr
	}
	if err != nil || of.n == 0 {
		s.root.Remove(of.tmp)
	}
	if err != nil {
		// Rows of earlier Writes were in the file: retrying this Write or
		// Flush would not bring them back, so the task must replay from
		// its committed offset.
		s.broken = fmt.Errorf("parquet sink: finish %s in %s: %w (records since the last flush are lost; restart the task to replay them)",
			of.tmp, s.dir, err)
		return s.broken
	}
	if of.n > 0 {
		s.sealed = append(s.sealed, of)
	}
	return nil
}

// publish gives the sealed files their final names, in the order they were
// sealed.
func (s *Sink) publish() error {
	for len(s.sealed) > 0 {
		of := s.sealed[0]
		name := fileName(of.dir, of.tp.Partition, of.first, of.last)
		if err := s.root.Rename(of.tmp, name); err != nil {
			return sdk.Retryable(fmt.Errorf("parquet sink: finish %s in %s: %w", name, s.dir, err))
		}
		s.sealed = s.sealed[1:]
		s.dirty[of.dir] = true
		s.replaced(of.tp, span{name: name, first: of.first, last: of.last})
	}
	return nil
}

// replaced removes older files of the same directory whose offsets the new
// file covers: a replay rewrites instead of duplicating.
func (s *Sink) replaced(tp sdk.TopicPartition, sp span) {
	dir := path.Dir(sp.name)
	kept := s.spans[tp][:0]
	for _, old := range s.spans[tp] {
		if old.name == sp.name {
			continue
		}
		if path.Dir(old.name) == dir && old.first >= sp.first && old.last <= sp.last {
			if err := s.root.Remove(old.name); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("cannot remove replaced file", "file", old.name, "error", err)
				kept = append(kept, old)
			}
			continue
		}
		kept = append(kept, old)
	}
	s.spans[tp] = append(kept, sp)
}

// Flush finishes every open file, names the files written since the last
// Flush after the offsets they hold, and syncs the directories that changed.
func (s *Sink) Flush(ctx context.Context) error {
	if s.broken != nil {
		return s.broken
	}
	var errs []error
	for tp := range s.open {
		errs = append(errs, s.sealPartition(tp))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := s.publish(); err != nil {
		return err
	}
	if err := s.syncDirs(); err != nil {
		return err
	}
	return ctx.Err()
}

// syncDirs fsyncs the changed directories, a few at a time: each fsync
// mostly waits on the disk, and a journaling file system commits concurrent
// ones together.
func (s *Sink) syncDirs() error {
	dirs := make(chan string)
	errs := make(chan error, len(s.dirty))
	var wg sync.WaitGroup
	for range min(len(s.dirty), maxParallelSyncs) {
		wg.Go(func() {
			for d := range dirs {
				errs <- s.syncDir(d)
			}
		})
	}
	for d := range s.dirty {
		dirs <- d
	}
	close(dirs)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	clear(s.dirty)
	return nil
}

const maxParallelSyncs = 8

func (s *Sink) syncDir(d string) error {
	f, err := s.root.Open(d)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("parquet sink: sync %s: %w", d, err))
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return sdk.Retryable(fmt.Errorf("parquet sink: sync %s: %w", d, err))
	}
	return nil
}

// Close abandons what was written since the last Flush and releases the
// directory. The worker flushes before a clean stop; after a failure the
// unflushed records were not committed and are replayed, so finishing their
// files here would claim offsets that were never handled.
func (s *Sink) Close(context.Context) error {
	if s.root == nil {
		return nil
	}
	for _, files := range s.open {
		for _, of := range files {
			of.f.Close()
			s.sealed = append(s.sealed, of)
		}
	}
	clear(s.open)
	s.last = nil
	for _, of := range s.sealed {
		if err := s.root.Remove(of.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("cannot remove unflushed file", "file", of.tmp, "error", err)
		}
	}
	s.sealed = nil
	s.root.Close()
	s.root = nil
	return nil
}

// WrittenOffsets reports, from the finished files' names, the last offset
// durably written for each asked partition.
func (s *Sink) WrittenOffsets(ctx context.Context, parts []sdk.TopicPartition) (map[sdk.TopicPartition]int64, error) {
	if s.spans == nil {
		spans, err := scan(os.DirFS(s.dir), nil)
		if err != nil {
			return nil, fmt.Errorf("parquet sink: scan %s: %w", s.dir, err)
		}
		s.spans = spans
	}
	out := map[sdk.TopicPartition]int64{}
	for _, tp := range parts {
		for _, sp := range s.spans[tp] {
			if cur, ok := out[tp]; !ok || sp.last > cur {
				out[tp] = sp.last
			}
		}
	}
	return out, ctx.Err()
}

var _ sdk.OffsetTracker = (*Sink)(nil)

// NeedsFields tells the worker to decode records ahead: every row is built
// from its fields.
func (s *Sink) NeedsFields() {}

var _ sdk.FieldsSink = (*Sink)(nil)
