package remotefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/braidhq/braid/connectors/sdk"
)

// Source reads files from a remote directory; see SourceDoc.
type Source struct {
	set   sourceSettings
	dial  Dialer
	log   *slog.Logger
	store sdk.Store
	env   sdk.Env
	proto string // "sftp", "ftp": for errors

	retryMu  sync.Mutex
	retrying int // downloads waiting to retry: the retrying_downloads gauge

	cancel  context.CancelFunc
	out     chan chunk
	todo    chan task
	stopped chan struct{} // closed when the background goroutines ended
	runErr  error         // why they ended; read after stopped is closed

	ctlMu     sync.Mutex // ctl: listing and after.read
	ctl       FS         // nil after a failure, until the next call dials again
	ctlClosed bool

	completeMu sync.Mutex // orders writes of the done set to the store
	actMu      sync.Mutex // one after.read pass at a time

	values valuePool // whole files' buffers (binary), reused after Ack

	oldEpoch string // the epoch before a reset, forgotten at the first Ack
	retire   bool   // Ack has yet to retire oldEpoch (Ack's goroutine only)

	mu       sync.Mutex
	epoch    string
	seq      int64                 // files read to their end, in the order their last records went out
	ackedSeq int64                 // the seq of the last acknowledged position
	files    map[string]*fileState // being read
	done     map[string]doneFile   // read to their end (also in the store)
	seen     map[string]seenAt     // stability: since when a file looks the same
}

type fileState struct {
	pos     filePos
	active  bool // queued or being downloaded
	emitted bool // in positions: records of it went out, or the stored position had it
}

// doneFile is a file read to its end. Seq is the seq of its last record's
// position; prev is what an earlier read of the same path left (on.change),
// restored when this read never reached the log.
type doneFile struct {
	filePos
	Seq   int64     `json:"seq"`
	Prev  *doneFile `json:"prev,omitempty"`
	acted bool      // after.read done
}

type seenAt struct {
	size  int64
	mtime time.Time
	since time.Time
}

// task is one file to download from start.
type task struct {
	entry  Entry
	start  int64
	resume bool // the stored position was reading it
}

// SourcePlugin builds the plugin of a remote file source: spec holds the
// connection settings followed by SourceFields, and dialer turns a
// validated config into a Dialer.
func SourcePlugin(spec sdk.Spec, proto string, dialer func(cfg sdk.Config, env sdk.Env) (Dialer, error)) sdk.Plugin {
	return sdk.Plugin{Spec: spec, NewSource: func(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
		d, err := dialer(cfg, env)
		if err != nil {
			return nil, err
		}
		return NewSource(cfg, env, proto, d), nil
	}}
}

// NewSource builds a source from validated settings.
func NewSource(cfg sdk.Config, env sdk.Env, proto string, dial Dialer) *Source {
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{set: newSourceSettings(cfg), dial: dial, log: logger, store: env.Store, env: env, proto: proto}
	s.values.max = s.set.maxDownloads
	return s
}

// Store keys: the epoch in use, the one a reset started (until its first
// Ack), and each epoch's files read.
const (
	storeEpochKey    = "remotefs.epoch"
	storeNewEpochKey = "remotefs.epoch.new"
)

func doneKey(epoch string) string { return "remotefs.done." + epoch }

// Open loads the files read so far, forgets those the log never got,
// connects, and starts listing and downloading.
func (s *Source) Open(ctx context.Context, pos sdk.Position) error {
	if s.store == nil {
		return sdk.Fatal(fmt.Errorf("%s source: no store to record read files in", s.proto))
	}
	p, err := decodePosition(pos)
	if err != nil {
		return sdk.Fatal(fmt.Errorf("%s source: %w", s.proto, err))
	}
	s.files, s.done, s.seen = map[string]*fileState{}, map[string]doneFile{}, map[string]seenAt{}
	s.values.forget()
	if p.Epoch == "" {
		if err := s.newEpoch(ctx); err != nil {
			return err
		}
	} else {
		s.epoch, s.seq, s.ackedSeq = p.Epoch, p.Seq, p.Seq
		if err := s.loadDone(ctx, p.Seq); err != nil {
			return err
		}
	}
	for _, f := range p.Files {
		if d, ok := s.done[f.Path]; ok && d.Size == f.Size && d.MTime == f.MTime {
			continue // read to its end without a record after the stored one
		}
		s.files[f.Path] = &fileState{pos: f, emitted: true}
	}
	ctl, err := s.dial(ctx)
	if err != nil {
		return err
	}
	s.ctl, s.ctlClosed = ctl, false
	s.env.SetGauge("retrying_downloads", 0)
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.out = make(chan chunk, s.set.maxDownloads)
	s.todo = make(chan task)
	s.stopped = make(chan struct{})
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return s.poll(gctx) })
	for range s.set.maxDownloads {
		g.Go(func() error { return s.downloader(gctx) })
	}
	go func() {
		s.runErr = g.Wait()
		close(s.stopped)
	}()
	return ctx.Err()
}

// newEpoch starts a new set of read files. The previous set is forgotten
// once the log acknowledged a position of the new one (retireEpoch): until
// then the worker may still resume from a position of the old one.
func (s *Source) newEpoch(ctx context.Context) error {
	var b [8]byte
	rand.Read(b[:])
	s.epoch = hex.EncodeToString(b[:])
	old, err := s.store.Get(ctx, storeEpochKey)
	switch {
	case err == nil:
		s.oldEpoch = string(old)
	case !errors.Is(err, sdk.ErrNotFound):
		return sdk.Retryable(fmt.Errorf("%s source: store: %w", s.proto, err))
	}
	// Recorded so that deleting the connector finds it before its first Ack.
	if err := s.store.Put(ctx, storeNewEpochKey, []byte(s.epoch)); err != nil {
		return sdk.Retryable(fmt.Errorf("%s source: store: %w", s.proto, err))
	}
	s.retire = true
	return nil
}

// Deleted removes what the source keeps in the store, when the connector
// is deleted.
func (s *Source) Deleted(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	var errs []error
	for _, k := range []string{storeEpochKey, storeNewEpochKey} {
		epoch, err := s.store.Get(ctx, k)
		if errors.Is(err, sdk.ErrNotFound) {
			continue
		}
		if err == nil {
			err = s.store.Delete(ctx, doneKey(string(epoch)))
		}
		if err == nil {
			err = s.store.Delete(ctx, k)
		}
		if err != nil && !errors.Is(err, sdk.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ sdk.Deleter = (*Source)(nil)

func (s *Source) retireEpoch(ctx context.Context) error {
	if err := s.store.Put(ctx, storeEpochKey, []byte(s.epoch)); err != nil {
		return sdk.Retryable(fmt.Errorf("%s source: store: %w", s.proto, err))
	}
	if s.oldEpoch != "" && s.oldEpoch != s.epoch {
		if err := s.store.Delete(ctx, doneKey(s.oldEpoch)); err != nil && !errors.Is(err, sdk.ErrNotFound) {
			s.log.Warn("cannot forget the files read before the position was reset", "error", err)
		}
	}
	s.retire = false
	return nil
}

// loadDone reads the files read so far, keeping only those whose last
// record the log has (seq at most the stored position's).
func (s *Source) loadDone(ctx context.Context, seq int64) error {
	b, err := s.store.Get(ctx, doneKey(s.epoch))
	if errors.Is(err, sdk.ErrNotFound) {
		return nil
	}
	if err != nil {
		return sdk.Retryable(fmt.Errorf("%s source: store: %w", s.proto, err))
	}
	var list []doneFile
	if err := json.Unmarshal(b, &list); err != nil {
		return sdk.Fatal(fmt.Errorf("%s source: the stored list of read files is not valid: %w", s.proto, err))
	}
	for _, f := range list {
		for f.Seq > seq && f.Prev != nil {
			f = *f.Prev
		}
		if f.Seq <= seq {
			s.done[f.Path] = f
		}
	}
	return nil
}

// saveDone writes the done set; the caller holds completeMu, not mu.
func (s *Source) saveDone(ctx context.Context) error {
	s.mu.Lock()
	list := make([]doneFile, 0, len(s.done))
	for _, f := range s.done {
		list = append(list, f)
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	b, _ := json.Marshal(list)
	if err := s.store.Put(ctx, doneKey(s.epoch), b); err != nil {
		return sdk.Retryable(fmt.Errorf("%s source: store: %w", s.proto, err))
	}
	return nil
}

// finish records a file read to its end with the given seq; the caller
// holds mu.
func (s *Source) finish(f filePos, seq int64) {
	d := doneFile{filePos: f, Seq: seq}
	if old, ok := s.done[f.Path]; ok {
		old.Prev = nil // one generation back is enough to undo one lost read
		d.Prev = &old
	}
	s.done[f.Path] = d
	delete(s.files, f.Path)
}

// act does after.read for the files the log has all records of.
func (s *Source) act(ctx context.Context) {
	if s.set.afterRead == afterKeep {
		return
	}
	// Ack and the listing both call act: one at a time, so a file is
	// moved or deleted once.
	s.actMu.Lock()
	defer s.actMu.Unlock()
	s.mu.Lock()
	var todo []string
	for p, d := range s.done {
		if !d.acted && d.Seq <= s.ackedSeq {
			todo = append(todo, p)
		}
	}
	s.mu.Unlock()
	sort.Strings(todo)
	for _, p := range todo {
		if s.afterRead(ctx, p) {
			s.mu.Lock()
			if d, ok := s.done[p]; ok {
				d.acted = true
				s.done[p] = d
			}
			s.mu.Unlock()
		}
	}
}

// afterRead deletes or moves a read file; a failure is retried at the next
// listing.
func (s *Source) afterRead(ctx context.Context, p string) bool {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	err := s.ctlDo(ctx, func(c FS) error {
		switch s.set.afterRead {
		case afterDelete:
			return c.Remove(ctx, p)
		case afterMove:
			if err := c.MkdirAll(ctx, s.set.moveDir); err != nil {
				return err
			}
			return c.Rename(ctx, p, path.Join(s.set.moveDir, path.Base(p)))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("after.read failed, will retry", "path", p, "after_read", s.set.afterRead, "error", err)
		return false
	}
	if s.set.readySuffix != "" {
		if err := s.ctlDo(ctx, func(c FS) error { return c.Remove(ctx, p+s.set.readySuffix) }); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot remove marker file", "path", p+s.set.readySuffix, "error", err)
		}
	}
	s.log.Info("after.read done", "path", p, "after_read", s.set.afterRead)
	return true
}

// Read returns the next batch, all from one file, waiting until there is one.
func (s *Source) Read(ctx context.Context) ([]sdk.Record, error) {
	for {
		var c chunk
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stopped:
			if s.runErr == nil || errors.Is(s.runErr, context.Canceled) {
				return nil, sdk.Retryable(fmt.Errorf("%s source: stopped", s.proto))
			}
			return nil, s.runErr
		case c = <-s.out:
		}
		if len(c.recs) == 0 {
			// A file without (further) records: nothing of it waits for
			// the log, so it counts as read at once, as of the last
			// acknowledged position (after.read need not wait either).
			s.completeMu.Lock()
			s.mu.Lock()
			s.finish(c.pos, s.ackedSeq)
			s.mu.Unlock()
			err := s.saveDone(ctx)
			s.completeMu.Unlock()
			if err != nil {
				return nil, err
			}
			s.log.Info("file read", "path", c.pos.Path, "size", c.pos.Size, "records", 0)
			s.act(ctx)
			continue
		}
		if err := s.stamp(ctx, c); err != nil {
			return nil, err
		}
		return c.recs, nil
	}
}

// stamp gives each record of c its position and moves the file's state
// on; a file's end is recorded in the store before its last record goes out.
func (s *Source) stamp(ctx context.Context, c chunk) error {
	s.completeMu.Lock()
	defer s.completeMu.Unlock()
	s.mu.Lock()
	st := s.files[c.pos.Path]
	files := make([]filePos, 0, len(s.files))
	for _, f := range s.files {
		if f.emitted && f != st {
			files = append(files, f.pos)
		}
	}
	seq, epoch := s.seq, s.epoch
	tpl := newPosTemplate(epoch, seq, append(slices.Clip(files), c.pos), c.pos.Path)
	if c.eof {
		s.seq++
		s.finish(c.pos, s.seq)
		if c.lend != nil {
			s.values.lend(s.seq, c.lend)
		}
	} else {
		st.pos, st.emitted = c.pos, true
	}
	s.mu.Unlock()
	if c.eof {
		if err := s.saveDone(ctx); err != nil {
			return err
		}
		s.log.Info("file read", "path", c.pos.Path, "size", c.pos.Size, "seq", seq+1)
	}
	arena := make([]byte, 0, len(c.recs)*(tpl.Len()+20))
	last := len(c.recs) - 1
	for i := range c.recs {
		if i == last && c.eof {
			c.recs[i].Position = encodePosition(epoch, seq+1, files)
			break
		}
		start := len(arena)
		arena = tpl.AppendPos(arena, c.ends[i])
		c.recs[i].Position = arena[start:len(arena):len(arena)]
	}
	return nil
}

// Ack notes how far the log got; files whose last record it has get their
// after.read.
func (s *Source) Ack(ctx context.Context, pos sdk.Position) error {
	p, err := decodePosition(pos)
	if err != nil {
		return err
	}
	if s.retire {
		if err := s.retireEpoch(ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	moved := p.Seq > s.ackedSeq
	s.ackedSeq = max(s.ackedSeq, p.Seq)
	s.mu.Unlock()
	s.values.release(p.Seq)
	if moved {
		s.act(ctx)
	}
	return nil
}

// Close stops listing and downloads and closes every connection.
func (s *Source) Close(context.Context) error {
	if s.cancel != nil {
		s.cancel()
		<-s.stopped
		s.cancel = nil
		s.values.forget()
		s.retryMu.Lock()
		s.retrying = 0
		s.env.SetGauge("retrying_downloads", 0) // nothing retries once stopped
		s.retryMu.Unlock()
	}
	s.ctlMu.Lock()
	if s.ctl != nil {
		s.ctl.Close()
		s.ctl = nil
	}
	s.ctlClosed = true
	s.ctlMu.Unlock()
	return nil
}

// ctlDo runs f on the control connection, dialing a new one when the last
// call failed; a failure other than a missing file is tried once more on a
// new connection (the server may have dropped an idle one). The caller
// holds ctlMu.
func (s *Source) ctlDo(ctx context.Context, f func(FS) error) error {
	if s.ctlClosed {
		return errors.New("source closed")
	}
	var err error
	for try := 0; try < 2; try++ {
		if s.ctl == nil {
			if s.ctl, err = s.dial(ctx); err != nil {
				return err
			}
		}
		if err = f(s.ctl); err == nil || errors.Is(err, fs.ErrNotExist) || sdk.IsFatal(err) {
			return err
		}
		s.ctl.Close()
		s.ctl = nil
	}
	return err
}

func identity(e Entry) (int64, int64) { return e.Size, e.ModTime.UnixNano() }

func sameFile(f filePos, e Entry) bool {
	size, mtime := identity(e)
	return f.Size == size && f.MTime == mtime
}

// poll lists the directory every poll.interval and queues ready files.
func (s *Source) poll(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		tasks, more, err := s.scan(ctx)
		if err != nil {
			return err
		}
		for _, tk := range tasks {
			select {
			case s.todo <- tk:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if more {
			t.Reset(0) // the rest of a long backlog, as soon as downloads take it
		} else {
			t.Reset(s.set.poll)
		}
	}
}

// list returns every file under the directory (recursively when asked).
func (s *Source) list(ctx context.Context) ([]Entry, error) {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	var out []Entry
	dirs := []string{s.set.dir}
	for depth := 0; len(dirs) > 0; depth++ {
		if depth > 32 {
			return nil, sdk.Fatal(fmt.Errorf("%s source: %s: directories nested deeper than 32", s.proto, s.set.dir))
		}
		var next []string
		for _, d := range dirs {
			var entries []Entry
			err := s.ctlDo(ctx, func(c FS) error {
				var err error
				entries, err = c.List(ctx, d)
				return err
			})
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && d == s.set.dir {
					return nil, sdk.Fatal(fmt.Errorf("%s source: path %s does not exist", s.proto, d))
				}
				return nil, sdk.Retryable(fmt.Errorf("%s source: list %s: %w", s.proto, d, err))
			}
			for _, e := range entries {
				if e.Dir {
					if s.set.recursive && e.Path != s.set.moveDir {
						next = append(next, e.Path)
					}
					continue
				}
				out = append(out, e)
			}
		}
		dirs = next
	}
	return out, nil
}

// scan lists the directory and returns the files to read now: files the
// stored position was reading first, then the oldest. It takes a few more
// than max.downloads at a time (more says there are others), so the state
// and positions stay small however long the backlog.
func (s *Source) scan(ctx context.Context) ([]task, bool, error) {
	entries, err := s.list(ctx)
	if err != nil {
		return nil, false, err
	}
	now := time.Now()
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Path] = true
	}
	var tasks []task
	s.mu.Lock()
	pruned := false
	for p, d := range s.done {
		if !present[p] && d.Seq <= s.ackedSeq {
			delete(s.done, p)
			pruned = true
		}
	}
	for p, st := range s.files {
		if !present[p] && !st.active {
			s.log.Warn("file in the position vanished before it was read to its end", "path", p, "offset", st.pos.Offset)
			delete(s.files, p)
		}
	}
	for p := range s.seen {
		if !present[p] {
			delete(s.seen, p)
		}
	}
	for _, e := range entries {
		name := path.Base(e.Path)
		if s.set.readySuffix != "" && strings.HasSuffix(name, s.set.readySuffix) {
			continue
		}
		if ok, _ := path.Match(s.set.glob, name); !ok {
			continue
		}
		if tk, ok := s.consider(e, now, present); ok {
			tasks = append(tasks, tk)
		}
	}
	s.mu.Unlock()
	if pruned {
		s.completeMu.Lock()
		err := s.saveDone(ctx)
		s.completeMu.Unlock()
		if err != nil {
			return nil, false, err
		}
	}
	s.act(ctx) // retries what failed before
	sort.Slice(tasks, func(i, j int) bool {
		a, b := tasks[i], tasks[j]
		if a.resume != b.resume {
			return a.resume
		}
		if !a.entry.ModTime.Equal(b.entry.ModTime) {
			return a.entry.ModTime.Before(b.entry.ModTime)
		}
		return a.entry.Path < b.entry.Path
	})
	more := len(tasks) > 2*s.set.maxDownloads
	if more {
		tasks = tasks[:2*s.set.maxDownloads]
	}
	s.mu.Lock()
	for _, tk := range tasks {
		size, mtime := identity(tk.entry)
		st, ok := s.files[tk.entry.Path]
		if !ok {
			st = &fileState{}
			s.files[tk.entry.Path] = st
		}
		st.active = true
		st.pos = filePos{Path: tk.entry.Path, Size: size, MTime: mtime, Offset: tk.start}
	}
	s.mu.Unlock()
	return tasks, more, nil
}

// consider decides about one listed file; the caller holds mu. Only the
// stability bookkeeping changes: scan takes the files it returns.
func (s *Source) consider(e Entry, now time.Time, present map[string]bool) (task, bool) {
	size, _ := identity(e)
	if st, ok := s.files[e.Path]; ok {
		if st.active {
			return task{}, false
		}
		// In the stored position: resume it, it was complete when it was started.
		start := st.pos.Offset
		if !sameFile(st.pos, e) {
			if s.set.onChange == changeReread || size < start {
				s.log.Warn("file changed while it was read: reading it again", "path", e.Path)
				start = 0
			}
		}
		return task{entry: e, start: start, resume: true}, true
	}
	start := int64(0)
	if d, ok := s.done[e.Path]; ok {
		if sameFile(d.filePos, e) {
			return task{}, false
		}
		switch {
		case s.set.onChange == changeIgnore:
			return task{}, false
		case s.set.onChange == changeAppend && size == d.Size:
			return task{}, false // touched, nothing appended
		case s.set.onChange == changeAppend && size > d.Size:
			start = d.Offset
		}
	}
	if !s.ready(e, now, present) {
		return task{}, false
	}
	return task{entry: e, start: start}, true
}

// ready reports whether a file is complete by the partner conventions.
func (s *Source) ready(e Entry, now time.Time, present map[string]bool) bool {
	if s.set.readySuffix != "" && !present[e.Path+s.set.readySuffix] {
		return false
	}
	if s.set.stableFor <= 0 {
		return true
	}
	seen, ok := s.seen[e.Path]
	if !ok || seen.size != e.Size || !seen.mtime.Equal(e.ModTime) {
		s.seen[e.Path] = seenAt{size: e.Size, mtime: e.ModTime, since: now}
		return false
	}
	return now.Sub(seen.since) >= s.set.stableFor
}
