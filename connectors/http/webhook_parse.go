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
func (w *Webhook) parse(req *nethttp.Request, body []byte) ([]sdk.Record, error) {
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

func (w *Webhook) records(req *nethttp.Request, values [][]byte) ([]sdk.Record, error) {
	now := time.Now()
	var hdrs sdk.Headers
	for _, name := range w.cfg.headers {
		for _, v := range req.Header.Values(name) {
			hdrs = append(hdrs, sdk.Header{Key: name, Value: v})
		}
	}
	var key []byte
	if w.cfg.keyHeader != "" {
		if k := req.Header.Get(w.cfg.keyHeader); k != "" {
			key = []byte(k)
		}
	}
	out := make([]sdk.Record, len(values))
	for i, v := range values {
		rec := &out[i]
		rec.Value, rec.Key, rec.Timestamp = v, key, now
		if len(hdrs) > 0 {
			rec.Headers = append(sdk.Headers(nil), hdrs...)
		}
		if w.cfg.keyField != "" {
			k, err := keyFromField(v, w.cfg.keyField)
			if err != nil {
				return nil, fmt.Errorf("record %d: %v", i, err)
			}
			rec.Key = k
		}
	}
	return out, nil
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
