package fileformat

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/parquet-go/parquet-go/compress"

	"github.com/braidhq/braid/connectors/sdk"
)

// Exts maps a sink format to its file extension.
var Exts = map[string]string{JSONL: "jsonl", CSV: "csv", Raw: "txt", Parquet: "parquet"}

// Encoder is a sink's format settings.
type Encoder struct {
	Format  string
	Delim   rune
	Columns []string // csv: configured columns, else from the first record
	// Parquet: the column chunk compression (nil: snappy) and the rows
	// per row group (0: 131072).
	ParquetCodec compress.Codec
	RowGroup     int64
}

// FileEncoder writes the records of one file.
type FileEncoder struct {
	format  string
	w       *bufio.Writer
	csv     *csv.Writer
	columns []string
	pq      *parquetFile
}

// Start begins a file on w; first is its first record (the CSV columns
// come from it when none are configured), which Start does not write.
func (e Encoder) Start(w *bufio.Writer, first *sdk.Record) (*FileEncoder, error) {
	fe := &FileEncoder{format: e.Format, w: w}
	if e.Format == Parquet {
		fe.pq = e.parquet()
	}
	if e.Format == CSV {
		fe.csv = csv.NewWriter(w)
		fe.csv.Comma = e.Delim
		fe.columns = e.csvColumns(first)
		if err := fe.csv.Write(fe.columns); err != nil {
			return nil, err
		}
		fe.csv.Flush()
	}
	return fe, nil
}

func (e Encoder) csvColumns(r *sdk.Record) []string {
	if len(e.Columns) > 0 {
		return e.Columns
	}
	if r.Schema != nil && len(r.Schema.Fields) > 0 {
		cols := make([]string, len(r.Schema.Fields))
		for i, f := range r.Schema.Fields {
			cols[i] = f.Name
		}
		return cols
	}
	m, _ := r.Structured()
	cols := make([]string, 0, len(m))
	for k := range m {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	return cols
}

var errNoValue = errors.New("record has neither a value nor fields")

// Encode writes one record; an error means nothing of it was written.
func (fe *FileEncoder) Encode(r *sdk.Record) error {
	switch fe.format {
	case Raw:
		v := r.Value
		if v == nil && r.Fields != nil {
			var err error
			if v, err = json.Marshal(r.Fields); err != nil {
				return err
			}
		}
		fe.w.Write(v)
		return fe.w.WriteByte('\n')
	case JSONL:
		return fe.encodeJSON(r)
	case Parquet:
		return fe.encodeParquet(r)
	default:
		return fe.encodeCSV(r)
	}
}

// Pending is the bytes of values encoded but not yet written to the
// file's writer (a Parquet row group in memory).
func (fe *FileEncoder) Pending() int64 {
	if fe.pq != nil {
		return fe.pq.pending
	}
	return 0
}

// Finish writes what the format keeps until the end (Parquet's last rows
// and footer); the file's writer still needs a Flush.
func (fe *FileEncoder) Finish() error {
	if fe.pq != nil {
		return fe.pq.finish()
	}
	return nil
}

func (fe *FileEncoder) encodeJSON(r *sdk.Record) error {
	v := bytes.TrimSpace(r.Value)
	switch {
	case len(v) > 0 && v[0] == '{' && bytes.IndexByte(v, '\n') < 0:
		fe.w.Write(v) // already one line of JSON
	case len(v) > 0 && v[0] == '{':
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return fmt.Errorf("value is not valid JSON: %w", err)
		}
		fe.w.Write(buf.Bytes())
	default:
		m, err := r.Structured()
		if err != nil {
			return err
		}
		if m == nil {
			return errNoValue
		}
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode fields as JSON: %w", err)
		}
		fe.w.Write(b)
	}
	return fe.w.WriteByte('\n')
}

func (fe *FileEncoder) encodeCSV(r *sdk.Record) error {
	m, err := r.Structured()
	if err != nil {
		return err
	}
	if m == nil {
		return errNoValue
	}
	row := make([]string, len(fe.columns))
	for i, c := range fe.columns {
		row[i] = csvValue(m[c])
	}
	if err := fe.csv.Write(row); err != nil {
		return err
	}
	fe.csv.Flush() // into w: a copy, not a syscall
	return fe.csv.Error()
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}
