package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/internal/fileformat"
	"github.com/braidhq/braid/connectors/sdk"
)

// Source reads files; see the package documentation.
type Source struct {
	pattern    string
	format     string
	follow     bool
	fromEnd    bool
	poll       time.Duration
	batchSize  int
	skipBad    bool
	deadLetter bool // on.invalid dead-letter: records that do not parse go to the worker with Err
	log        *slog.Logger

	files    []*tracked // in discovery order
	cur      int        // round-robin start among files
	lastScan time.Time
	dec      fileformat.Decoder

	mu    sync.Mutex
	acked sdk.Position
}

// NewSource builds a file source from validated settings.
func NewSource(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
	pattern := cfg.String("path")
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{
		pattern:    pattern,
		format:     cfg.String("format"),
		follow:     cfg.Bool("follow"),
		fromEnd:    cfg.String("start") == "end",
		poll:       max(cfg.Duration("poll.interval"), time.Millisecond),
		batchSize:  int(cfg.Int("batch.size")),
		dec:        fileformat.Decoder{Format: cfg.String("format"), Delim: cfg.String("csv.delimiter")[0]},
		skipBad:    cfg.String("on.invalid") == "skip",
		deadLetter: cfg.String("on.invalid") == "dead-letter",
		log:        logger,
	}, nil
}

type match struct {
	path string
	ino  uint64
	size int64
}

// glob lists the regular files matching the pattern, sorted by path.
func (s *Source) glob() ([]match, error) {
	paths, err := filepath.Glob(s.pattern)
	if err != nil {
		return nil, fmt.Errorf("file source: glob %q: %w", s.pattern, err)
	}
	sort.Strings(paths)
	out := make([]match, 0, len(paths))
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue // vanished or not a file
		}
		out = append(out, match{path: p, ino: inodeOf(fi), size: fi.Size()})
	}
	return out, nil
}

// Open finds the files and positions each one: at its stored offset when the
// position knows its inode, else at the start (or the end, with start: end
// and no stored position).
func (s *Source) Open(ctx context.Context, pos sdk.Position) error {
	p, err := decodePosition(pos)
	if err != nil {
		return sdk.Fatal(err)
	}
	stored := make(map[uint64]filePos, len(p.Files))
	for _, f := range p.Files {
		stored[f.Inode] = f
	}
	matches, err := s.glob()
	if err != nil {
		return err
	}
	if len(matches) == 0 && !s.follow {
		return sdk.Fatal(fmt.Errorf("file source: path %q matches no file", s.pattern))
	}
	// Files the position knows are older than new ones: read them first.
	sort.SliceStable(matches, func(i, j int) bool {
		_, ki := stored[matches[i].ino]
		_, kj := stored[matches[j].ino]
		return ki && !kj
	})
	for _, m := range matches {
		var off int64
		if fp, ok := stored[m.ino]; ok {
			off = fp.Offset
		} else if pos == nil && s.fromEnd {
			off = m.size
		}
		t, err := openTracked(m.path, off, s.format == formatCSV)
		if err != nil {
			s.closeFiles()
			return fmt.Errorf("file source: open %s: %w", m.path, err)
		}
		s.files = append(s.files, t)
	}
	s.lastScan = time.Now()
	return ctx.Err()
}

// Read returns the next batch of records, all from one file. Without follow
// it returns sdk.ErrEndOfInput once every file has been read; with follow it
// waits, polling, until there is data or ctx ends.
func (s *Source) Read(ctx context.Context) ([]sdk.Record, error) {
	timer := time.NewTimer(s.poll)
	defer timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.follow && time.Since(s.lastScan) >= s.poll {
			if err := s.rescan(); err != nil {
				return nil, err
			}
		}
		recs, err := s.readSome()
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		if !s.follow {
			return nil, sdk.ErrEndOfInput
		}
		timer.Reset(s.poll)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// readSome reads one batch from the first file that has data: rotated-away
// files first (they are older), then the others round-robin.
func (s *Source) readSome() ([]sdk.Record, error) {
	for _, t := range s.files {
		if t.gone && !t.done {
			if recs, err := s.readFile(t); err != nil || len(recs) > 0 {
				return recs, err
			}
		}
	}
	s.dropFinished() // before the positions of other files' records are built
	n := len(s.files)
	for i := 0; i < n; i++ {
		idx := (s.cur + i) % n
		t := s.files[idx]
		if t.done || t.gone {
			continue
		}
		recs, err := s.readFile(t)
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			s.cur = idx
			if len(recs) < s.batchSize {
				s.cur = idx + 1 // reached its end: give the next file a turn
			}
			return recs, nil
		}
	}
	return nil, nil
}

// dropFinished forgets rotated files read to their end.
func (s *Source) dropFinished() {
	kept := s.files[:0]
	for _, t := range s.files {
		if t.gone && t.done {
			s.log.Info("finished rotated file", "path", t.path, "inode", t.ino, "offset", t.sc.Off)
			t.close()
			continue
		}
		kept = append(kept, t)
	}
	clear(s.files[len(kept):])
	s.files = kept
}

// rescan looks for new, renamed and vanished files.
func (s *Source) rescan() error {
	s.lastScan = time.Now()
	matches, err := s.glob()
	if err != nil {
		return err
	}
	byIno := make(map[uint64]*tracked, len(s.files))
	for _, t := range s.files {
		byIno[t.ino] = t
	}
	seen := make(map[uint64]bool, len(matches))
	for _, m := range matches {
		seen[m.ino] = true
		if t, ok := byIno[m.ino]; ok {
			if t.path != m.path {
				s.log.Info("file renamed", "from", t.path, "to", m.path, "inode", m.ino)
				t.path = m.path
			}
			continue
		}
		t, err := openTracked(m.path, 0, s.format == formatCSV)
		if err != nil {
			s.log.Warn("cannot open new file", "path", m.path, "error", err)
			continue
		}
		s.log.Info("new file", "path", m.path, "inode", t.ino)
		s.files = append(s.files, t)
	}
	for _, t := range s.files {
		if !seen[t.ino] && !t.gone {
			s.log.Info("file rotated away", "path", t.path, "inode", t.ino)
			t.gone = true
		}
	}
	return nil
}

// readFile reads up to batch.size records from t.
func (s *Source) readFile(t *tracked) ([]sdk.Record, error) {
	if s.format == formatCSV && t.header == nil && t.sc.Off > 0 {
		if err := s.loadHeader(t); err != nil {
			return nil, err
		}
	}
	b := batch{tpl: newPosTemplate(s.files, t), now: time.Now(), recs: make([]sdk.Record, 0, s.batchSize)}
	for len(b.recs) < s.batchSize {
		rec, end, err := t.sc.Next()
		if errors.Is(err, io.EOF) {
			if s.follow && !t.gone {
				trunc, err := t.truncated()
				if err != nil {
					return nil, err
				}
				if !trunc {
					break
				}
				s.log.Warn("file truncated, reading it again from the start", "path", t.path, "offset", t.sc.Off)
				if err := t.seek(0); err != nil {
					return nil, err
				}
				continue
			}
			var ok bool
			rec, end, ok = t.sc.TakePartial()
			t.done = true
			if !ok {
				break
			}
		} else if err != nil {
			return nil, err
		}
		if err := s.emit(&b, t, rec, end); err != nil {
			return nil, err
		}
		if t.done {
			break
		}
	}
	return b.recs, nil
}

// batch collects one Read's records; values and positions share a few
// large byte slices instead of one allocation each.
type batch struct {
	recs  []sdk.Record
	arena []byte
	tpl   fileformat.PosTemplate
	now   time.Time
}

const arenaChunk = 256 << 10

func (b *batch) reserve(n int) {
	if b.arena == nil || cap(b.arena)-len(b.arena) < n {
		b.arena = make([]byte, 0, max(arenaChunk, n))
	}
}

func (b *batch) copyBytes(p []byte) []byte {
	b.reserve(len(p))
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	return b.arena[start:len(b.arena):len(b.arena)]
}

func (b *batch) position(off int64) sdk.Position {
	b.reserve(b.tpl.Len() + 20)
	start := len(b.arena)
	b.arena = b.tpl.AppendPos(b.arena, off)
	return b.arena[start:len(b.arena):len(b.arena)]
}

// emit turns one raw record into an sdk.Record.
func (s *Source) emit(b *batch, t *tracked, rec []byte, end int64) error {
	d, err := s.dec.Decode(rec, &t.header)
	if err != nil {
		return s.invalid(b, t, rec, end, err)
	}
	if d.Skip {
		return nil
	}
	r := sdk.Record{Timestamp: b.now, Fields: d.Fields}
	if d.Value != nil {
		r.Value = b.copyBytes(d.Value)
	}
	r.Position = b.position(end)
	b.recs = append(b.recs, r)
	return nil
}

// invalid handles a record that does not parse by on.invalid: under
// dead-letter it goes to the worker in its place, raw, with the error.
func (s *Source) invalid(b *batch, t *tracked, rec []byte, end int64, err error) error {
	err = fmt.Errorf("file source: %s: %s record ending at byte offset %d: %w", t.path, s.format, end, err)
	switch {
	case s.deadLetter:
		b.recs = append(b.recs, sdk.Record{Timestamp: b.now, Value: b.copyBytes(rec), Position: b.position(end), Err: err})
		return nil
	case s.skipBad:
		s.log.Warn("skipping invalid record", "path", t.path, "end_offset", end, "error", err)
		return nil
	}
	return sdk.Fatal(err)
}

// loadHeader reads the CSV header of a file resumed past its first line.
func (s *Source) loadHeader(t *tracked) error {
	h := fileformat.Scanner{CSV: true, Name: t.path}
	h.Reset(io.NewSectionReader(t.f, 0, t.sc.Off), 0, 64<<10)
	rec, _, err := h.Next()
	if errors.Is(err, io.EOF) {
		rec, _, _ = h.TakePartial()
	} else if err != nil {
		return err
	}
	fields, err := fileformat.SplitCSV(rec, s.dec.Delim, nil)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("file source: %s: csv header: %w", t.path, err))
	}
	t.header = fields
	return nil
}

// Ack records the last position the log has stored; the worker keeps it.
func (s *Source) Ack(_ context.Context, pos sdk.Position) error {
	s.mu.Lock()
	s.acked = pos
	s.mu.Unlock()
	return nil
}

// Close closes every file.
func (s *Source) Close(context.Context) error {
	s.closeFiles()
	return nil
}

func (s *Source) closeFiles() {
	for _, t := range s.files {
		t.close()
	}
	s.files = nil
}
