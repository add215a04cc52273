package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/braidhq/braid/connectors/internal/fileformat"
	"github.com/braidhq/braid/connectors/sdk"
)

// Sink writes records into files; see the package documentation.
type Sink struct {
	dir    string
	format string
	ext    string
	roll   fileformat.Roll
	enc    fileformat.Encoder
	log    *slog.Logger

	root   *os.Root
	open   map[sdk.TopicPartition]*outFile
	sealed []*outFile                      // rolled since the last Flush: synced, not yet named
	spans  fileformat.Spans                // finished files by partition
	stale  map[sdk.TopicPartition][]string // unfinished files left by a crash
	dirty  bool                            // a rename since the last directory fsync
	broken error                           // records written since the last Flush were lost
}

// outFile is the file being written for one topic partition.
type outFile struct {
	fileformat.Part
	tmp string
	f   *os.File
}

// NewSink builds a file sink from validated settings.
func NewSink(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	format := cfg.String("format")
	ext := fileformat.Exts[format]
	return &Sink{
		dir:    filepath.Clean(cfg.String("path")),
		format: format,
		ext:    ext,
		roll:   fileformat.Roll{Size: cfg.Int("roll.size"), Interval: cfg.Duration("roll.interval")},
		enc:    fileformat.Encoder{Format: format, Delim: rune(cfg.String("csv.delimiter")[0]), Columns: cfg.Strings("csv.columns")},
		log:    logger,
	}, nil
}

// Open creates the directory, removes temporary files a crash left behind
// (their records were never committed, so they will be written again) and
// indexes the finished files.
func (s *Sink) Open(ctx context.Context) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return sdk.Fatal(fmt.Errorf("file sink: path: create %s: %w", s.dir, err))
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("file sink: path: open %s: %w", s.dir, err))
	}
	s.root = root
	s.open = map[sdk.TopicPartition]*outFile{}
	s.spans = fileformat.Spans{}
	s.sealed, s.broken = nil, nil
	names, err := s.list()
	if err != nil {
		return err
	}
	// Unfinished files are removed per partition when this sink first writes
	// to it: other tasks (here or on other workers) may be writing theirs in
	// the same directory right now.
	s.stale = map[sdk.TopicPartition][]string{}
	for _, name := range names {
		if tp, ok := fileformat.ParseTemp(name); ok {
			s.stale[tp] = append(s.stale[tp], name)
			continue
		}
		s.spans.Add(name)
	}
	return ctx.Err()
}

func (s *Sink) list() ([]string, error) {
	d, err := s.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("file sink: list %s: %w", s.dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("file sink: list %s: %w", s.dir, err)
	}
	sort.Strings(names)
	return names, nil
}

// Write appends records to their partitions' files, rolling by size and age.
// Records that cannot be encoded are reported in a *sdk.BatchError.
//
// Nothing Write does claims an offset: a rolled file is synced but keeps its
// temporary name until Flush, which the worker calls only after it has dealt
// with the rejected records (dead-letter topic, or a failed task whose Close
// abandons the unflushed files). A file name never covers a record that is
// neither in a file nor handled.
func (s *Sink) Write(ctx context.Context, records []sdk.Record) error {
	if s.broken != nil {
		return s.broken
	}
	return s.roll.Write(ctx, records, fileformat.Files[*outFile]{Open: s.open, New: s.create, Finish: s.seal})
}

func (s *Sink) create(tp sdk.TopicPartition, r *sdk.Record, now time.Time) (*outFile, error) {
	for _, name := range s.stale[tp] {
		if err := s.root.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("file sink: remove stale %s: %w", name, err)
		}
		s.log.Info("removed unfinished file", "file", name)
	}
	delete(s.stale, tp)
	of := &outFile{Part: fileformat.Part{TP: tp, Opened: now}, tmp: fileformat.TempName(tp, r.Offset, s.ext)}
	// Only a replay of the same batch (a retried Write) creates a file at an
	// offset again; its records replace the sealed file's.
	s.sealed = slices.DeleteFunc(s.sealed, func(o *outFile) bool { return o.tmp == of.tmp })
	f, err := s.root.OpenFile(of.tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("file sink: create %s in %s: %w", of.tmp, s.dir, err))
	}
	of.f = f
	if err := of.Start(f, 1<<20, s.enc, r); err != nil {
		f.Close()
		return nil, err
	}
	s.open[tp] = of
	return of, nil
}

// seal makes one file durable under its temporary name; Flush names it. A
// file without records is removed instead: it claims nothing.
func (s *Sink) seal(of *outFile) error {
	delete(s.open, of.TP)
	err := of.Finish()
	if err == nil {
		err = of.f.Sync()
	}
	if cerr := of.f.Close(); err == nil {
		err = cerr
	}
	if err != nil || of.N == 0 {
		s.root.Remove(of.tmp)
	}
	if err != nil {
		// Records of earlier Writes were in the file: retrying this Write
		// or Flush would not bring them back, so the task must replay from
		// its committed offset.
		s.broken = fmt.Errorf("file sink: write %s in %s: %w (records since the last flush are lost; restart the task to replay them)",
			of.tmp, s.dir, err)
		return s.broken
	}
	if of.N > 0 {
		s.sealed = append(s.sealed, of)
	}
	return nil
}

// publish gives the sealed files their final names, in the order they were
// sealed, so a partition's files appear oldest first.
func (s *Sink) publish() error {
	for len(s.sealed) > 0 {
		of := s.sealed[0]
		name := fileformat.FileName(of.TP, of.First, of.Last, s.ext)
		if err := s.root.Rename(of.tmp, name); err != nil {
			return sdk.Retryable(fmt.Errorf("file sink: write %s in %s: %w", name, s.dir, err))
		}
		s.sealed = s.sealed[1:]
		s.dirty = true
		s.spans.Replace(of.TP, fileformat.Span{Name: name, First: of.First, Last: of.Last}, s.remove, s.log)
	}
	return nil
}

// remove deletes a finished file a replay replaced.
func (s *Sink) remove(name string) error {
	if err := s.root.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Flush syncs every open file, names the files written since the last
// Flush after the offsets they hold, and syncs the directory.
func (s *Sink) Flush(ctx context.Context) error {
	if s.broken != nil {
		return s.broken
	}
	for _, of := range s.open {
		if err := s.seal(of); err != nil {
			return err
		}
	}
	if err := s.publish(); err != nil {
		return err
	}
	if s.dirty {
		if err := s.syncDir(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (s *Sink) syncDir() error {
	d, err := s.root.Open(".")
	if err != nil {
		return sdk.Retryable(fmt.Errorf("file sink: sync %s: %w", s.dir, err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return sdk.Retryable(fmt.Errorf("file sink: sync %s: %w", s.dir, err))
	}
	s.dirty = false
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
	for _, of := range s.open {
		of.f.Close()
		s.sealed = append(s.sealed, of)
	}
	clear(s.open)
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
	if s.spans == nil { // not opened: read the names directly
		entries, err := os.ReadDir(s.dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("file sink: list %s: %w", s.dir, err)
		}
		s.spans = fileformat.Spans{}
		for _, e := range entries {
			s.spans.Add(e.Name())
		}
	}
	return s.spans.Last(parts), ctx.Err()
}

var _ sdk.OffsetTracker = (*Sink)(nil)
