package remotefs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/internal/fileformat"
	"github.com/braidhq/braid/connectors/sdk"
)

// chunk is up to batch.size records of one file, in order; pos is the
// file's identity with the offset after the last record, eof says they are
// the file's last. Read gives the records their positions.
type chunk struct {
	pos   filePos
	eof   bool
	recs  []sdk.Record
	ends  []int64
	arena []byte
	hdrs  []sdk.Header
	lend  []byte // the binary value's buffer, from Source.values: back there once the log has it
}

const (
	readBufSize = 256 << 10
	arenaChunk  = 256 << 10
)

func (c *chunk) add(value []byte, fields map[string]any, end int64, hdr sdk.Headers, now time.Time, batch int) {
	if c.recs == nil {
		c.recs, c.ends = make([]sdk.Record, 0, batch), make([]int64, 0, batch)
		c.hdrs = make([]sdk.Header, 0, batch*len(hdr))
	}
	// Each record owns its headers (a transform may change them in place),
	// carved from one allocation per chunk.
	start := len(c.hdrs)
	c.hdrs = append(c.hdrs, hdr...)
	r := sdk.Record{Fields: fields, Headers: c.hdrs[start:len(c.hdrs):len(c.hdrs)], Timestamp: now}
	if value != nil {
		if c.arena == nil || cap(c.arena)-len(c.arena) < len(value) {
			c.arena = make([]byte, 0, max(arenaChunk, len(value)))
		}
		start := len(c.arena)
		c.arena = append(c.arena, value...)
		r.Value = c.arena[start:len(c.arena):len(c.arena)]
	}
	c.recs = append(c.recs, r)
	c.ends = append(c.ends, end)
}

// addInvalid appends what could not be parsed as a record with Err set (on.invalid dead-letter).
func (c *chunk) addInvalid(raw []byte, end int64, hdr sdk.Headers, now time.Time, batch int, err error) {
	c.add(raw, nil, end, hdr, now, batch)
	c.recs[len(c.recs)-1].Err = err
	if raw == nil {
		c.recs[len(c.recs)-1].Value = []byte{}
	}
}

// downloader reads the queued files over its own connection, retrying a
// failed transfer from where it stopped.
func (s *Source) downloader(ctx context.Context) error {
	var conn FS
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		var tk task
		select {
		case <-ctx.Done():
			return ctx.Err()
		case tk = <-s.todo:
		}
		d := &download{s: s, task: tk, cur: chunk{pos: s.filePos(tk)}}
		backoff := 500 * time.Millisecond
		failing := false
		fail := func() {
			if !failing {
				failing = true
				s.retryingAdd(1)
			}
		}
		for {
			if conn == nil {
				var err error
				if conn, err = s.dial(ctx); err != nil {
					if sdk.IsFatal(err) || ctx.Err() != nil {
						return err
					}
					fail()
					s.log.Warn("cannot connect, will retry", "error", err, "retry_in", backoff)
					if !sleep(ctx, &backoff) {
						return ctx.Err()
					}
					continue
				}
			}
			err := d.run(ctx, conn)
			if err == nil {
				if failing {
					s.retryingAdd(-1)
				}
				break
			}
			if sdk.IsFatal(err) || ctx.Err() != nil {
				return err
			}
			fail()
			s.log.Warn("download failed, will resume", "path", tk.entry.Path, "offset", d.task.start, "error", err, "retry_in", backoff)
			conn.Close()
			conn = nil
			if !sleep(ctx, &backoff) {
				return ctx.Err()
			}
		}
	}
}

// retryingAdd moves the retrying_downloads gauge; one lock orders the
// counts and the gauge updates, so the last value reported is the count.
func (s *Source) retryingAdd(n int) {
	s.retryMu.Lock()
	defer s.retryMu.Unlock()
	s.retrying += n
	s.env.SetGauge("retrying_downloads", float64(s.retrying))
}

func sleep(ctx context.Context, backoff *time.Duration) bool {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	*backoff = min(*backoff*2, 30*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Source) filePos(tk task) filePos {
	size, mtime := identity(tk.entry)
	return filePos{Path: tk.entry.Path, Size: size, MTime: mtime, Offset: tk.start}
}

// download is one file's transfer; it survives retries. task.start moves
// with what was handed to cur, so a retry resumes after it.
type download struct {
	s      *Source
	task   task
	cur    chunk // records not yet sent: sent only when a next record or the end shows whether they are the file's last
	header []string
}

func (d *download) gzipped() bool {
	switch d.s.set.compression {
	case "gzip":
		return true
	case "auto":
		return strings.HasSuffix(d.task.entry.Path, ".gz")
	}
	return false
}

// open streams the file's (decompressed) bytes from task.start. A CSV file
// resumed past its header has the header read first.
func (d *download) open(ctx context.Context, conn FS) (io.ReadCloser, *fileformat.Scanner, error) {
	p, start := d.task.entry.Path, d.task.start
	csvMode := d.s.set.format == fileformat.CSV
	sc := &fileformat.Scanner{CSV: csvMode, Name: p}
	if !d.gzipped() {
		if csvMode && start > 0 && d.header == nil {
			if err := d.readHeader(ctx, conn); err != nil {
				return nil, nil, err
			}
		}
		rc, err := conn.Open(ctx, p, start)
		if err != nil {
			return nil, nil, err
		}
		sc.Reset(rc, start, readBufSize)
		return rc, sc, nil
	}
	rc, err := conn.Open(ctx, p, 0)
	if err != nil {
		return nil, nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(rc, readBufSize))
	if err != nil {
		rc.Close()
		return nil, nil, d.badFile(fmt.Errorf("not gzip: %w", err))
	}
	rcz := readCloser{Reader: zr, close: rc.Close}
	sc.Reset(zr, 0, readBufSize)
	if csvMode && start > 0 && d.header == nil {
		rec, _, err := sc.Next()
		if err != nil && !errors.Is(err, io.EOF) {
			rcz.Close()
			return nil, nil, err
		}
		if d.header, err = fileformat.SplitCSV(rec, d.s.set.delim, nil); err != nil {
			rcz.Close()
			return nil, nil, d.badFile(fmt.Errorf("csv header: %w", err))
		}
	}
	if n := start - sc.Off; n > 0 {
		if _, err := sc.R.Discard(int(n)); err != nil {
			rcz.Close()
			return nil, nil, fmt.Errorf("skip to offset %d of %s: %w", start, p, err)
		}
	}
	sc.Off = start
	return rcz, sc, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func (d *download) readHeader(ctx context.Context, conn FS) error {
	rc, err := conn.Open(ctx, d.task.entry.Path, 0)
	if err != nil {
		return err
	}
	sc := &fileformat.Scanner{CSV: true, Name: d.task.entry.Path}
	sc.Reset(rc, 0, 64<<10)
	rec, _, err := sc.Next()
	if errors.Is(err, io.EOF) {
		rec, _, _ = sc.TakePartial()
	} else if err != nil {
		rc.Close()
		return err
	}
	header, err := fileformat.SplitCSV(rec, d.s.set.delim, nil)
	// Abandoning the transfer may upset the connection: the next command
	// then fails and the download is retried over a new one, with the
	// header known.
	rc.Close()
	if err != nil {
		return d.badFile(fmt.Errorf("csv header: %w", err))
	}
	d.header = header
	return nil
}

// errBadFile says the file cannot be read as its format and on.invalid
// let it go (skip, or dead-letter with the record already in cur): the
// download ends at the file's end.
var errBadFile = errors.New("the file cannot be read as its format")

// invalid handles what does not parse by on.invalid: raw is the record's
// bytes (nil for a whole file), end where it ends. It returns nil when the
// source goes on, having handed it to cur as a record with Err under
// dead-letter.
func (d *download) invalid(raw []byte, end int64, err error) error {
	err = fmt.Errorf("%s source: %s: %s record ending at byte offset %d: %w",
		d.s.proto, d.task.entry.Path, d.s.set.format, end, err)
	switch {
	case d.s.set.deadLetter:
		d.cur.addInvalid(raw, end, d.headers(), time.Now(), d.s.set.batchSize, err)
		return nil
	case d.s.set.skipBad:
		d.s.log.Warn("skipping invalid record", "path", d.task.entry.Path, "end_offset", end, "error", err)
		return nil
	}
	return sdk.Fatal(err)
}

// badFile is invalid for a whole file: errBadFile unless the task fails.
func (d *download) badFile(err error) error {
	if err := d.invalid(nil, d.task.entry.Size, err); err != nil {
		return err
	}
	return errBadFile
}

// endBadFile ends the download of a file badFile let go: it counts as read
// to its end (with its dead letter, if any, as the last record).
func (d *download) endBadFile(ctx context.Context) error {
	d.cur.pos.Offset = d.task.entry.Size
	return d.send(ctx, true)
}

func (d *download) headers() sdk.Headers {
	e := d.task.entry
	return sdk.Headers{
		{Key: "file.path", Value: e.Path},
		{Key: "file.size", Value: strconv.FormatInt(e.Size, 10)},
		{Key: "file.mtime", Value: e.ModTime.UTC().Format(time.RFC3339Nano)},
	}
}

func (d *download) send(ctx context.Context, eof bool) error {
	c := d.cur
	c.eof = eof
	if n := len(c.ends); n > 0 {
		c.pos.Offset = c.ends[n-1]
	}
	select {
	case d.s.out <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	// The next chunk's values go on in what is left of the arena: the
	// records sent never grow into it (their slices are capped).
	d.cur = chunk{pos: c.pos, arena: c.arena[len(c.arena):]}
	return nil
}

// run transfers the rest of the file.
func (d *download) run(ctx context.Context, conn FS) error {
	if d.s.set.format == fileformat.Binary {
		return d.runBinary(ctx, conn)
	}
	rc, sc, err := d.open(ctx, conn)
	if err != nil {
		if errors.Is(err, errBadFile) {
			return d.endBadFile(ctx)
		}
		if errors.Is(err, fs.ErrNotExist) {
			d.s.log.Warn("file vanished before it was read", "path", d.task.entry.Path)
			return d.send(ctx, true)
		}
		return err
	}
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer func() {
		if stop() {
			rc.Close()
		}
	}()
	dec := fileformat.Decoder{Format: d.s.set.format, Delim: d.s.set.delim}
	hdr, now, batch := d.headers(), time.Now(), d.s.set.batchSize
	for {
		rec, end, err := sc.Next()
		last := false
		if errors.Is(err, io.EOF) {
			var ok bool
			if rec, end, ok = sc.TakePartial(); !ok {
				break
			}
			last = true
		} else if err != nil {
			return err
		}
		dd, err := dec.Decode(rec, &d.header)
		if (err != nil || !dd.Skip) && len(d.cur.recs) >= batch {
			if err := d.send(ctx, false); err != nil {
				return err
			}
		}
		switch {
		case err != nil:
			if err := d.invalid(rec, end, err); err != nil {
				return err
			}
		case !dd.Skip:
			d.cur.add(dd.Value, dd.Fields, end, hdr, now, batch)
		}
		d.task.start = end
		if last {
			break
		}
	}
	if len(d.cur.recs) == 0 {
		d.cur.pos.Offset = d.task.start
	}
	return d.send(ctx, true)
}

// readAllSized reads r to its end into buf, at most limit bytes. When the
// listed size is the number of bytes to come (no decompression), runBinary
// passes a buf of that capacity (plus room to see the end), so a file is
// read in place instead of through io.ReadAll's doublings and copies.
func readAllSized(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	b := bytes.NewBuffer(buf)
	_, err := b.ReadFrom(io.LimitReader(r, limit))
	return b.Bytes(), err
}

func (d *download) runBinary(ctx context.Context, conn FS) error {
	e := d.task.entry
	if e.Size > d.s.set.binaryMax {
		if err := d.badFile(fmt.Errorf("%d bytes, more than binary.max.size", e.Size)); !errors.Is(err, errBadFile) {
			return err
		}
		return d.endBadFile(ctx)
	}
	rc, err := conn.Open(ctx, e.Path, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return d.send(ctx, true)
		}
		return err
	}
	var r io.Reader = rc
	if d.gzipped() {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			rc.Close()
			if err := d.badFile(fmt.Errorf("not gzip: %w", err)); !errors.Is(err, errBadFile) {
				return err
			}
			return d.endBadFile(ctx)
		}
		r = zr
	}
	want := bytes.MinRead
	if !d.gzipped() {
		want += int(e.Size)
	}
	b, err := readAllSized(r, d.s.values.get(want), d.s.set.binaryMax+1)
	rc.Close()
	if err != nil {
		d.s.values.put(b)
		return err
	}
	if int64(len(b)) > d.s.set.binaryMax {
		d.s.values.put(b)
		if err := d.badFile(errors.New("more than binary.max.size")); !errors.Is(err, errBadFile) {
			return err
		}
		return d.endBadFile(ctx)
	}
	d.cur = chunk{pos: d.cur.pos, lend: b} // the value is b itself, not a copy
	d.cur.recs = []sdk.Record{{Value: b[:len(b):len(b)], Headers: d.headers(), Timestamp: time.Now()}}
	d.cur.ends = []int64{e.Size}
	if err := d.send(ctx, true); err != nil {
		d.s.values.put(b)
		return err
	}
	return nil
}
