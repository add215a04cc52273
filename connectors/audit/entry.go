package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/braidhq/braid/connectors/sdk"
)

// Genesis is the prev_hash of the first entry of a chain.
var Genesis = strings.Repeat("0", 64)

// Entry is one line of the audit log. Its field order is its canonical form.
type Entry struct {
	Seq           int64           `json:"seq"`
	Time          string          `json:"time"`
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Key           *string         `json:"key"`
	KeyEncoding   string          `json:"key_encoding,omitempty"` // "base64" when the key is not UTF-8
	Value         json.RawMessage `json:"value"`
	ValueEncoding string          `json:"value_encoding,omitempty"` // "base64" when the value is not JSON
	PrevHash      string          `json:"prev_hash"`
	Hash          string          `json:"hash,omitempty"`
}

// newEntry describes a record; Seq, PrevHash and Hash are set by seal.
func newEntry(r *sdk.Record, now time.Time) (Entry, error) {
	e := Entry{
		Time:      now.UTC().Format(time.RFC3339Nano),
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
	}
	if r.Key != nil {
		k := string(r.Key)
		if !utf8.Valid(r.Key) {
			k, e.KeyEncoding = base64.StdEncoding.EncodeToString(r.Key), "base64"
		}
		e.Key = &k
	}
	switch {
	case r.Value == nil && r.Fields != nil:
		v, err := json.Marshal(r.Fields)
		if err != nil {
			return e, fmt.Errorf("%s: encode fields: %w", r.Where(), err)
		}
		e.Value = v
	case r.Value == nil:
		e.Value = json.RawMessage("null")
	case json.Valid(r.Value):
		var b bytes.Buffer
		if err := json.Compact(&b, r.Value); err != nil {
			return e, err
		}
		e.Value = b.Bytes()
	default:
		v, _ := json.Marshal(base64.StdEncoding.EncodeToString(r.Value))
		e.Value, e.ValueEncoding = v, "base64"
	}
	return e, nil
}

// ComputeHash returns the hex SHA-256 of the entry's canonical JSON without
// its hash field (prev_hash included, so each hash seals the chain so far).
func (e Entry) ComputeHash() (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// seal sets the entry's place in the chain and returns its line, newline included.
func (e *Entry) seal(seq int64, prev string) ([]byte, error) {
	e.Seq, e.PrevHash = seq, prev
	h, err := e.ComputeHash()
	if err != nil {
		return nil, err
	}
	e.Hash = h
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
