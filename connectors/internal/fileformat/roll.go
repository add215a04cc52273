package fileformat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// Part is the file a rolling sink (file, ftp, sftp) writes for one topic
// partition.
type Part struct {
	TP          sdk.TopicPartition
	Count       CountWriter // under W: what reached the file
	W           *bufio.Writer
	Enc         *FileEncoder
	N           int   // records encoded
	First, Last int64 // their offsets; valid when N > 0
	Opened      time.Time
}

// CountWriter counts the bytes written through it.
type CountWriter struct {
	W io.Writer
	N int64
}

func (c *CountWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}

// Start sets the part up to write to w, with a bufSize buffer, and writes
// the format's header (first is the part's first record).
func (p *Part) Start(w io.Writer, bufSize int, enc Encoder, first *sdk.Record) error {
	p.Count.W = w
	p.W = bufio.NewWriterSize(&p.Count, bufSize)
	var err error
	p.Enc, err = enc.Start(p.W, first)
	return err
}

// Size is the part's bytes, buffered ones (and a Parquet row group's
// values in memory) included.
func (p *Part) Size() int64 { return p.Count.N + int64(p.W.Buffered()) + p.Enc.Pending() }

// Finish writes the format's end and flushes the buffer into the file.
func (p *Part) Finish() error {
	if err := p.Enc.Finish(); err != nil {
		return err
	}
	return p.W.Flush()
}

// Roller is what a rolling sink does with its parts.
type Roller interface {
	// Part returns the open part of tp, or nil.
	Part(tp sdk.TopicPartition) *Part
	// Create opens a new part for tp whose first record is r.
	Create(tp sdk.TopicPartition, r *sdk.Record, now time.Time) (*Part, error)
	// Seal finishes a part that rolled; it is no longer open.
	Seal(p *Part) error
}

// Self returns the part; a sink's file type that embeds Part has it too,
// which is what Files needs.
func (p *Part) Self() *Part { return p }

// Files is the Roller of a sink whose open files (each embedding a Part)
// are kept by partition: New creates one, Finish seals one.
type Files[F interface{ Self() *Part }] struct {
	Open   map[sdk.TopicPartition]F
	New    func(tp sdk.TopicPartition, first *sdk.Record, now time.Time) (F, error)
	Finish func(F) error
}

func (fs Files[F]) Part(tp sdk.TopicPartition) *Part {
	if f, ok := fs.Open[tp]; ok {
		return f.Self()
	}
	return nil
}

func (fs Files[F]) Create(tp sdk.TopicPartition, r *sdk.Record, now time.Time) (*Part, error) {
	f, err := fs.New(tp, r, now)
	if err != nil {
		return nil, err
	}
	return f.Self(), nil
}

func (fs Files[F]) Seal(p *Part) error { return fs.Finish(fs.Open[p.TP]) }

// Roll is when a rolling sink starts a new part.
type Roll struct {
	Size     int64
	Interval time.Duration // 0: never by age
}

// Write encodes records into their partitions' parts, rolling by size and
// age; records that cannot be encoded (or whose topic cannot name a file)
// are reported in a *sdk.BatchError, the others are written.
func (rl Roll) Write(ctx context.Context, records []sdk.Record, r Roller) error {
	var bad []sdk.RecordError
	now := time.Now()
	for i := range records {
		rec := &records[i]
		tp := sdk.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
		p := r.Part(tp)
		if p != nil && rl.Interval > 0 && now.Sub(p.Opened) >= rl.Interval {
			if err := r.Seal(p); err != nil {
				return err
			}
			p = nil
		}
		if p == nil {
			if err := CheckTopic(rec.Topic); err != nil {
				bad = append(bad, sdk.RecordError{Index: i, Err: err})
				continue
			}
			var err error
			if p, err = r.Create(tp, rec, now); err != nil {
				return err
			}
		}
		err := p.Enc.Encode(rec)
		if errors.Is(err, ErrRoll) && p.N > 0 {
			// The file's columns do not fit the record: it starts the next.
			if err := r.Seal(p); err != nil {
				return err
			}
			if p, err = r.Create(tp, rec, now); err != nil {
				return err
			}
			err = p.Enc.Encode(rec)
		}
		if err != nil {
			bad = append(bad, sdk.RecordError{Index: i, Err: fmt.Errorf("%s: %w", rec.Where(), err)})
			continue
		}
		if p.N == 0 {
			p.First = rec.Offset
		}
		p.Last = rec.Offset
		p.N++
		if p.Size() >= rl.Size {
			if err := r.Seal(p); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return &sdk.BatchError{Records: bad}
	}
	return nil
}

// Spans indexes a sink directory's finished files by partition.
type Spans map[sdk.TopicPartition][]Span

// Add indexes a file name; it reports whether the name is a finished file's.
func (s Spans) Add(name string) bool {
	tp, sp, ok := ParseName(name)
	if ok {
		s[tp] = append(s[tp], sp)
	}
	return ok
}

// Replace indexes sp, a file just finished, and removes the older files of
// tp whose offsets it covers: a replay rewrites them instead of leaving
// duplicates. A file remove fails on stays indexed, with a warning.
func (s Spans) Replace(tp sdk.TopicPartition, sp Span, remove func(name string) error, log *slog.Logger) {
	kept := s[tp][:0]
	for _, old := range s[tp] {
		if old.Name == sp.Name {
			continue
		}
		if old.First >= sp.First && old.Last <= sp.Last {
			if err := remove(old.Name); err != nil {
				log.Warn("cannot remove replaced file", "file", old.Name, "error", err)
				kept = append(kept, old)
			}
			continue
		}
		kept = append(kept, old)
	}
	s[tp] = append(kept, sp)
}

// Last returns the last offset the finished files hold for each asked
// partition; partitions without files are left out.
func (s Spans) Last(parts []sdk.TopicPartition) map[sdk.TopicPartition]int64 {
	out := map[sdk.TopicPartition]int64{}
	for _, tp := range parts {
		for _, sp := range s[tp] {
			if cur, ok := out[tp]; !ok || sp.Last > cur {
				out[tp] = sp.Last
			}
		}
	}
	return out
}
