package fileformat

import (
	"bytes"
	"errors"
)

var errBareQuote = errors.New(`bare " in an unquoted field`)

// SplitCSV splits one CSV record (RFC 4180: quoted fields may hold the
// delimiter, newlines and doubled quotes) into its fields, appending to out.
func SplitCSV(rec []byte, delim byte, out []string) ([]string, error) {
	for {
		if len(rec) > 0 && rec[0] == '"' {
			val, rest, err := quotedField(rec[1:], delim)
			if err != nil {
				return out, err
			}
			out = append(out, val)
			if rest == nil {
				return out, nil
			}
			rec = rest
			continue
		}
		i := bytes.IndexByte(rec, delim)
		field := rec
		if i >= 0 {
			field = rec[:i]
		}
		if bytes.IndexByte(field, '"') >= 0 {
			return out, errBareQuote
		}
		out = append(out, string(field))
		if i < 0 {
			return out, nil
		}
		rec = rec[i+1:]
	}
}

// quotedField reads a field after its opening quote; rest is nil at the end
// of the record.
func quotedField(b []byte, delim byte) (string, []byte, error) {
	var buf []byte
	for {
		i := bytes.IndexByte(b, '"')
		if i < 0 {
			return "", nil, errors.New("quoted field is not closed")
		}
		buf = append(buf, b[:i]...)
		b = b[i+1:]
		if len(b) > 0 && b[0] == '"' { // doubled quote
			buf = append(buf, '"')
			b = b[1:]
			continue
		}
		switch {
		case len(b) == 0:
			return string(buf), nil, nil
		case b[0] == delim:
			return string(buf), b[1:], nil
		default:
			return "", nil, errors.New("text after a closing quote")
		}
	}
}
