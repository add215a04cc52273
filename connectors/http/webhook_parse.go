package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	nethttp "net/http"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// parse turns a request body into records: one per body, per array element
// or per NDJSON line.
func (w *Webhook) parse(req *nethttp.Request, body []byte) (*batch, error) {
	media, params, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	var values [][]byte
	switch {
	case media == "application/x-ndjson" || media == "application/ndjson" || media == "application/jsonl":
		var err error
		if values, err = splitNDJSON(body); err != nil {
			return nil, err
		}
	case w.cfg.batch || params["batch"] == "true":
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) > 0 && trimmed[0] == '[' {
			var err error
			if values, err = splitArray(trimmed); err != nil {
				return nil, err
			}
			break
		}
		fallthrough
	default:
		if len(body) == 0 {
			return nil, fmt.Errorf("empty body")
		}
		values = [][]byte{body}
	}
	return w.records(req, values)
}

func splitNDJSON(body []byte) ([][]byte, error) {
	values := make([][]byte, 0, bytes.Count(body, []byte{'\n'})+1)
	for line := 1; len(body) > 0; line++ {
		var l []byte
		l, body, _ = bytes.Cut(body, []byte{'\n'})
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if !json.Valid(l) {
			return nil, fmt.Errorf("line %d is not valid JSON", line)
		}
		values = append(values, l)
	}
	return values, nil
}

// batch is one request's records, kept compact until Read hands them over.
type batch struct {
	values  [][]byte
	keys    [][]byte // per record, with key_field
	key     []byte   // shared, with key_header
	headers sdk.Headers
	at      time.Time
}

func (b *batch) len() int { return len(b.values) }

// record builds record i; every record gets its own copy of the headers.
func (b *batch) record(i int, pos sdk.Position) sdk.Record {
	r := sdk.Record{Value: b.values[i], Key: b.key, Timestamp: b.at, Position: pos}
	if b.keys != nil {
		r.Key = b.keys[i]
	}
	if len(b.headers) > 0 {
		r.Headers = append(sdk.Headers(nil), b.headers...)
	}
	return r
}

func (w *Webhook) records(req *nethttp.Request, values [][]byte) (*batch, error) {
	b := &batch{values: values, at: time.Now()}
	for _, name := range w.cfg.headers {
		for _, v := range req.Header.Values(name) {
			b.headers = append(b.headers, sdk.Header{Key: name, Value: v})
		}
	}
	if w.cfg.keyHeader != "" {
		if k := req.Header.Get(w.cfg.keyHeader); k != "" {
			b.key = []byte(k)
		}
	}
	if w.cfg.keyField != "" {
		b.keys = make([][]byte, len(values))
		for i, v := range values {
			k, err := keyFromField(v, w.cfg.keyField)
			if err != nil {
				return nil, fmt.Errorf("record %d: %v", i, err)
			}
			b.keys[i] = k
		}
	}
	return b, nil
}

// keyFromField reads the key from a JSON field; a missing field leaves the
// record without a key (spread round-robin), a non-JSON body is an error.
func keyFromField(value []byte, path string) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("key_field %q: body is not JSON: %v", path, err)
	}
	f, ok := lookup(v, path)
	if !ok {
		return nil, nil
	}
	if s, ok := scalarString(f); ok {
		return []byte(s), nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("key_field %q: %v", path, err)
	}
	return b, nil
}
