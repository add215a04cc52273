package remotefs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/braidhq/braid/connectors/internal/fileformat"
	"github.com/braidhq/braid/connectors/internal/parquetenc"
	"github.com/braidhq/braid/connectors/sdk"
)

// Sink writes rolled files into a remote directory; see SinkDoc.
type Sink struct {
	dir     string
	ext     string
	roll    fileformat.Roll
	enc     fileformat.Encoder
	dial    Dialer
	log     *slog.Logger
	proto   string
	dataDir string

	conn   FS
	spool  string // local directory of the files being written
	open   map[sdk.TopicPartition]*spoolFile
	sealed []*spoolFile                    // rolled since the last Flush, not yet uploaded
	spans  fileformat.Spans                // finished remote files by partition
	stale  map[sdk.TopicPartition][]string // remote temporary files a crash left
	broken error
}

// spoolFile is the local file being written for one topic partition.
type spoolFile struct {
	fileformat.Part
	local string
	f     *os.File
}

// SinkPlugin builds the plugin of a remote file sink.
func SinkPlugin(spec sdk.Spec, proto string, dialer func(cfg sdk.Config, env sdk.Env) (Dialer, error)) sdk.Plugin {
	return sdk.Plugin{Spec: spec, NewSink: func(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
		d, err := dialer(cfg, env)
		if err != nil {
			return nil, err
		}
		return NewSink(cfg, env, proto, d), nil
	}}
}

// NewSink builds a sink from validated settings.
func NewSink(cfg sdk.Config, env sdk.Env, proto string, dial Dialer) *Sink {
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	format := cfg.String("format")
	return &Sink{
		dir:  cleanDir(cfg.String("path")),
		ext:  fileformat.Exts[format],
		roll: fileformat.Roll{Size: cfg.Int("roll.size"), Interval: cfg.Duration("roll.interval")},
		enc: fileformat.Encoder{Format: format, Delim: rune(cfg.String("csv.delimiter")[0]), Columns: cfg.Strings("csv.columns"),
			ParquetCodec: parquetenc.Codec(cfg.String("parquet.compression"))},
		dial:    dial,
		log:     logger,
		proto:   proto,
		dataDir: env.DataDir,
	}
}

func (s *Sink) connect(ctx context.Context) (FS, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
}

// remoteErr drops the connection after a failed remote call, so the next
// call (the worker retries) starts on a new one.
func (s *Sink) remoteErr(what string, err error) error {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if sdk.IsFatal(err) {
		return err
	}
	return sdk.Retryable(fmt.Errorf("%s sink: %s: %w", s.proto, what, err))
}

// Open connects, creates the directory and indexes the finished files.
func (s *Sink) Open(ctx context.Context) error {
	spool, err := os.MkdirTemp(s.dataDir, "spool-")
	if err != nil {
		return sdk.Fatal(fmt.Errorf("%s sink: local spool directory: %w", s.proto, err))
	}
	s.spool = spool
	s.open = map[sdk.TopicPartition]*spoolFile{}
	s.sealed, s.broken = nil, nil
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	if err := c.MkdirAll(ctx, s.dir); err != nil {
		return s.remoteErr("create "+s.dir, err)
	}
	return s.index(ctx)
}

func (s *Sink) index(ctx context.Context) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	entries, err := c.List(ctx, s.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.remoteErr("list "+s.dir, err)
	}
	s.spans = fileformat.Spans{}
	s.stale = map[sdk.TopicPartition][]string{}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	for _, e := range entries {
		name := path.Base(e.Path)
		if tp, ok := fileformat.ParseTemp(name); ok {
			s.stale[tp] = append(s.stale[tp], name)
			continue
		}
		s.spans.Add(name)
	}
	return nil
}

// Write encodes records into their partitions' spool files, rolling by
// size and age; records that cannot be encoded are reported in a
// *sdk.BatchError. Nothing is uploaded before Flush.
func (s *Sink) Write(ctx context.Context, records []sdk.Record) error {
	if s.broken != nil {
		return s.broken
	}
	return s.roll.Write(ctx, records, fileformat.Files[*spoolFile]{Open: s.open, New: s.create, Finish: s.seal})
}

func (s *Sink) create(tp sdk.TopicPartition, r *sdk.Record, now time.Time) (*spoolFile, error) {
	name := fileformat.TempName(tp, r.Offset, s.ext)
	sf := &spoolFile{Part: fileformat.Part{TP: tp, Opened: now}, local: filepath.Join(s.spool, name[1:])}
	// Only a retried Write creates a file at an offset again: it replaces
	// the sealed one.
	s.sealed = slices.DeleteFunc(s.sealed, func(o *spoolFile) bool { return o.local == sf.local })
	f, err := os.OpenFile(sf.local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, sdk.Retryable(fmt.Errorf("%s sink: spool %s: %w", s.proto, sf.local, err))
	}
	sf.f = f
	if err := sf.Start(f, 256<<10, s.enc, r); err != nil {
		f.Close()
		return nil, err
	}
	s.open[tp] = sf
	return sf, nil
}

// seal finishes a spool file; Flush uploads it.
func (s *Sink) seal(sf *spoolFile) error {
	delete(s.open, sf.TP)
	err := sf.Finish()
	if cerr := sf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil || sf.N == 0 {
		os.Remove(sf.local)
	}
	if err != nil {
		s.broken = fmt.Errorf("%s sink: spool %s: %w (records since the last flush are lost; restart the task to replay them)", s.proto, sf.local, err)
		return s.broken
	}
	if sf.N > 0 {
		s.sealed = append(s.sealed, sf)
	}
	return nil
}

// Flush seals every open file and uploads the sealed ones, each under a
// temporary name and then renamed to the offsets it holds.
func (s *Sink) Flush(ctx context.Context) error {
	if s.broken != nil {
		return s.broken
	}
	for _, sf := range s.open {
		if err := s.seal(sf); err != nil {
			return err
		}
	}
	for len(s.sealed) > 0 {
		if err := s.upload(ctx, s.sealed[0]); err != nil {
			return err
		}
		os.Remove(s.sealed[0].local)
		s.sealed = s.sealed[1:]
	}
	return ctx.Err()
}

func (s *Sink) upload(ctx context.Context, sf *spoolFile) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	for _, name := range s.stale[sf.TP] {
		if err := c.Remove(ctx, path.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s.remoteErr("remove stale "+name, err)
		}
		s.log.Info("removed unfinished file", "file", name)
	}
	delete(s.stale, sf.TP)
	f, err := os.Open(sf.local)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("%s sink: spool %s: %w", s.proto, sf.local, err))
	}
	defer f.Close()
	tmp := path.Join(s.dir, fileformat.TempName(sf.TP, sf.First, s.ext))
	name := fileformat.FileName(sf.TP, sf.First, sf.Last, s.ext)
	if err := c.Upload(ctx, tmp, bufio.NewReaderSize(f, 256<<10)); err != nil {
		return s.remoteErr("upload "+tmp, err)
	}
	if err := c.Rename(ctx, tmp, path.Join(s.dir, name)); err != nil {
		return s.remoteErr("rename "+tmp+" to "+name, err)
	}
	s.spans.Replace(sf.TP, fileformat.Span{Name: name, First: sf.First, Last: sf.Last}, func(old string) error {
		if err := c.Remove(ctx, path.Join(s.dir, old)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}, s.log)
	return nil
}

// Close abandons what was written since the last Flush: those records were
// not committed and are read again.
func (s *Sink) Close(context.Context) error {
	for _, sf := range s.open {
		sf.f.Close()
	}
	clear(s.open)
	s.sealed = nil
	if s.spool != "" {
		os.RemoveAll(s.spool)
		s.spool = ""
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	return nil
}

// WrittenOffsets reports, from the remote file names, the last offset
// durably written for each asked partition.
func (s *Sink) WrittenOffsets(ctx context.Context, parts []sdk.TopicPartition) (map[sdk.TopicPartition]int64, error) {
	if s.spans == nil {
		err := s.index(ctx)
		if s.spool == "" && s.conn != nil { // not opened: do not keep the connection
			s.conn.Close()
			s.conn = nil
		}
		if err != nil {
			return nil, err
		}
	}
	return s.spans.Last(parts), ctx.Err()
}

var _ sdk.OffsetTracker = (*Sink)(nil)
