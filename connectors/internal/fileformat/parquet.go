package fileformat

import (
	"errors"
	"fmt"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/braidhq/braid/connectors/internal/parquetenc"
	"github.com/braidhq/braid/connectors/sdk"
)

// Parquet is the rolling sinks' Parquet format: columns from the first
// record's schema (or inferred from its fields), the parquet sink's
// encoding (connectors/internal/parquetenc).
const Parquet = "parquet"

// ErrRoll says a record does not fit the part's file (a Parquet file's
// columns are fixed when it starts): the caller seals the part and writes
// the record into a new one.
var ErrRoll = errors.New("record needs a new file")

// Bounds of what a Parquet part holds in memory: rows are handed to the
// writer in runs of parquetRun, and a row group ends at RowGroup rows or
// once its values reach parquetGroupBytes.
const (
	parquetRun        = 1024
	parquetGroupBytes = 16 << 20
	defaultRowGroup   = 131072
)

// parquetFile is the Parquet state of one file.
type parquetFile struct {
	codec    compress.Codec
	rowGroup int64
	lay      *parquetenc.Layout
	w        *pq.Writer
	vals     pq.Row   // backing of rows
	rows     []pq.Row // appended, not yet handed to w
	groupN   int64    // rows of the current row group
	pending  int64    // bytes of values not yet written to the file
}

func (e Encoder) parquet() *parquetFile {
	pf := &parquetFile{codec: e.ParquetCodec, rowGroup: e.RowGroup}
	if pf.codec == nil {
		pf.codec = &snappy.Codec{}
	}
	if pf.rowGroup <= 0 {
		pf.rowGroup = defaultRowGroup
	}
	return pf
}

func (fe *FileEncoder) encodeParquet(r *sdk.Record) error {
	pf := fe.pq
	m, err := r.Structured()
	if err != nil {
		return err
	}
	if m == nil {
		return errNoValue
	}
	lay, err := parquetenc.For(pf.lay, r.Schema, m)
	if err != nil {
		return err
	}
	if pf.lay != nil && lay != pf.lay {
		return ErrRoll
	}
	start := len(pf.vals)
	var size int64
	pf.vals, size, err = lay.AppendRow(pf.vals, m)
	if err != nil {
		pf.vals = pf.vals[:start]
		return err
	}
	if pf.lay == nil {
		pf.lay = lay
		pf.w = pq.NewWriter(fe.w, lay.Schema(), pq.Compression(pf.codec), pq.MaxRowsPerRowGroup(pf.rowGroup),
			pq.CreatedBy("braid", "", ""))
	}
	pf.rows = append(pf.rows, pf.vals[start:len(pf.vals):len(pf.vals)])
	pf.pending += size
	if len(pf.rows) >= parquetRun {
		return pf.writeRows()
	}
	return nil
}

// writeRows hands the appended rows to the writer, ending the row group
// when it is full.
func (pf *parquetFile) writeRows() error {
	if len(pf.rows) == 0 {
		return nil
	}
	if _, err := pf.w.WriteRows(pf.rows); err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	pf.groupN += int64(len(pf.rows))
	clear(pf.rows)
	pf.rows, pf.vals = pf.rows[:0], pf.vals[:0]
	if pf.groupN >= pf.rowGroup || pf.pending >= parquetGroupBytes {
		if err := pf.w.Flush(); err != nil {
			return fmt.Errorf("write parquet row group: %w", err)
		}
		pf.groupN, pf.pending = 0, 0
	}
	return nil
}

// finish writes the last rows and the footer.
func (pf *parquetFile) finish() error {
	if pf.w == nil {
		return nil
	}
	if err := pf.writeRows(); err != nil {
		return err
	}
	if err := pf.w.Close(); err != nil {
		return fmt.Errorf("finish parquet file: %w", err)
	}
	pf.pending = 0
	return nil
}
