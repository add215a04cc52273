package fileformat

import "strconv"

// PosTemplate renders the positions of one batch's records cheaply: a file
// source's position is JSON naming every file it tracks, and only the
// current file's offset differs from record to record, so everything before
// it (Prefix) and after it (Suffix) is rendered once per batch.
type PosTemplate struct {
	Prefix, Suffix []byte
}

// Len is the length of a position, less its offset's digits.
func (t PosTemplate) Len() int { return len(t.Prefix) + len(t.Suffix) }

// AppendPos appends the position of a record ending at off.
func (t PosTemplate) AppendPos(b []byte, off int64) []byte {
	b = append(b, t.Prefix...)
	b = strconv.AppendInt(b, off, 10)
	return append(b, t.Suffix...)
}
