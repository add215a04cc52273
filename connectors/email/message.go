package email

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// message is one composed email.
type message struct {
	from  string   // envelope sender
	rcpts []string // envelope recipients
	data  []byte   // headers and body, CRLF line ends
	dedup string
}

// tmplData is what the templates see.
type tmplData struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     string
	Fields    map[string]any
	Headers   map[string]string
}

func (s *Sink) compose(r *sdk.Record) (*message, error) {
	d := tmplData{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)}
	if f, err := r.Structured(); err == nil {
		d.Fields = f
	}
	if len(r.Headers) > 0 {
		d.Headers = map[string]string{}
		for _, h := range r.Headers {
			d.Headers[h.Key] = h.Value
		}
	}
	to, err := s.recipients(s.to, s.toField, d.Fields, "to_field")
	if err != nil {
		return nil, err
	}
	cc, err := s.recipients(s.cc, s.ccField, d.Fields, "cc_field")
	if err != nil {
		return nil, err
	}
	if len(to)+len(cc) == 0 {
		return nil, errors.New("the message has no recipient")
	}
	var subject, text, html bytes.Buffer
	if err := s.subject.Execute(&subject, d); err != nil {
		return nil, fmt.Errorf("subject template: %w", err)
	}
	if err := s.body.Execute(&text, d); err != nil {
		return nil, fmt.Errorf("body template: %w", err)
	}
	if s.html != nil {
		if err := s.html.Execute(&html, d); err != nil {
			return nil, fmt.Errorf("html template: %w", err)
		}
	}
	m := &message{from: s.from.Address, dedup: dedupValue(r)}
	if s.dedup != nil {
		var b strings.Builder
		if err := s.dedup.Execute(&b, d); err != nil {
			return nil, fmt.Errorf("dedup_key template: %w", err)
		}
		m.dedup = "tmpl:" + b.String()
	}
	for _, a := range append(append([]*mail.Address(nil), to...), cc...) {
		m.rcpts = append(m.rcpts, a.Address)
	}
	m.data, err = s.render(to, cc, subject.String(), text.Bytes(), html.Bytes(), m.dedup)
	return m, err
}

// recipients joins configured addresses with those of a record field.
func (s *Sink) recipients(fixed []*mail.Address, path string, fields map[string]any, setting string) ([]*mail.Address, error) {
	out := append([]*mail.Address(nil), fixed...)
	if path == "" {
		return out, nil
	}
	v, ok := lookup(fields, path)
	if !ok || v == nil {
		return out, nil
	}
	var raw []string
	switch x := v.(type) {
	case string:
		raw = []string{x}
	case []any:
		for _, e := range x {
			str, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s %q: list holds a %T, not an address", setting, path, e)
			}
			raw = append(raw, str)
		}
	default:
		return nil, fmt.Errorf("%s %q: holds a %T, not an address", setting, path, v)
	}
	for _, r := range raw {
		list, err := parseAddressList(r)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", setting, path, err)
		}
		out = append(out, list...)
	}
	return out, nil
}

func lookup(fields map[string]any, path string) (any, bool) {
	var v any = fields
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

// parseAddress accepts one RFC 5322 address; CR and LF never pass, so an
// address cannot smuggle in a header line.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("address %q contains a line break", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %v", s, err)
	}
	return a, nil
}

func parseAddresses(list []string) ([]*mail.Address, error) {
	out := make([]*mail.Address, 0, len(list))
	for _, s := range list {
		a, err := parseAddress(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAddressList(s string) ([]*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("address %q contains a line break", s)
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %v", s, err)
	}
	return list, nil
}

func joinAddresses(list []*mail.Address) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}

// render builds the message. Every header value is either an address that
// net/mail formatted or text encoded with RFC 2047: no record byte reaches a
// header raw.
func (s *Sink) render(to, cc []*mail.Address, subject string, text, html []byte, dedup string) ([]byte, error) {
	subject = strings.Join(strings.Fields(subject), " ")
	sum := sha256.Sum256([]byte(dedup))
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("From", s.from.String())
	if len(to) > 0 {
		hdr("To", joinAddresses(to))
	}
	if len(cc) > 0 {
		hdr("Cc", joinAddresses(cc))
	}
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@braid>")
	hdr("MIME-Version", "1.0")
	if len(html) == 0 {
		hdr("Content-Type", "text/plain; charset=utf-8")
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary()); err != nil {
		return nil, err
	}
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct {
		ctype string
		body  []byte
	}{{"text/plain; charset=utf-8", text}, {"text/html; charset=utf-8", html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, body []byte) error {
	qp := quotedprintable.NewWriter(w)
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	body = bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n"))
	if _, err := qp.Write(body); err != nil {
		return err
	}
	return qp.Close()
}

func boundary() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "braid-" + hex.EncodeToString(b[:]) + "-" + strconv.Itoa(len(b))
}
