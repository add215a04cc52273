package fileformat

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Formats of sources and sinks.
const (
	Lines  = "lines"
	CSV    = "csv"
	JSONL  = "jsonl"
	Raw    = "raw"
	Binary = "binary" // one record per file (ftp and sftp sources)
)

// Decoder turns one record's bytes into a value and fields by format.
type Decoder struct {
	Format string
	Delim  byte
	fields []string // scratch
}

// Decoded is the result of one Decode.
type Decoded struct {
	Value  []byte         // rec itself (lines, jsonl): copy before the next read
	Fields map[string]any // jsonl, csv
	Skip   bool           // a blank line, or the CSV header (now in *header)
}

// Decode decodes rec. For CSV, *header holds the file's column names; while
// it is nil, rec is the header and is stored there. An error says what is
// wrong with the record; the caller adds where it is.
func (d *Decoder) Decode(rec []byte, header *[]string) (Decoded, error) {
	switch d.Format {
	case JSONL:
		if len(rec) == 0 {
			return Decoded{Skip: true}, nil
		}
		var m map[string]any
		if err := json.Unmarshal(rec, &m); err != nil || m == nil {
			if err == nil {
				err = errors.New("not a JSON object")
			}
			return Decoded{}, err
		}
		return Decoded{Value: rec, Fields: m}, nil
	case CSV:
		if len(rec) == 0 {
			return Decoded{Skip: true}, nil
		}
		fields, err := SplitCSV(rec, d.Delim, d.fields[:0])
		d.fields = fields
		if err != nil {
			return Decoded{}, err
		}
		if *header == nil {
			*header = append([]string(nil), fields...)
			return Decoded{Skip: true}, nil
		}
		if len(fields) != len(*header) {
			return Decoded{}, fmt.Errorf("%d columns, the header has %d", len(fields), len(*header))
		}
		m := make(map[string]any, len(fields))
		for i, v := range fields {
			m[(*header)[i]] = v
		}
		return Decoded{Fields: m}, nil
	default: // lines
		return Decoded{Value: rec}, nil
	}
}
