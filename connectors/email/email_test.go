package email

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

func newSink(t *testing.T, box *mailbox, store sdk.Store, raw map[string]any) *Sink {
	t.Helper()
	scheme := "smtp://"
	if raw["implicit"] == true {
		scheme = "smtps://"
		delete(raw, "implicit")
	}
	base := map[string]any{
		"smtp": scheme + "alerts@" + box.addr, "password": "pw", "tls_ca_file": box.caFile,
		"from": "Braid <braid@example.com>", "to": []any{"ops@example.com"},
		"subject": "Order {{.Fields.id}}", "body": "Amount {{.Fields.amount}}", "rate_per_minute": 60000,
	}
	for k, v := range raw {
		base[k] = v
	}
	cfg, err := spec().Validate(base)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(cfg, sdk.Env{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func order(offset int64, key, value string) sdk.Record {
	return sdk.Record{Topic: "orders", Partition: 1, Offset: offset, Key: []byte(key), Value: []byte(value)}
}

type parsed struct {
	header     mail.Header
	subject    string
	text, html string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var p parsed
	p.header = m.Header
	p.subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	media, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if media != "multipart/alternative" {
		b, _ := io.ReadAll(m.Body)
		p.text = string(b) // quoted-printable, plain ASCII in these tests
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/html") {
			p.html = string(b)
		} else {
			p.text = string(b)
		}
	}
	return p
}

func TestEmailSendsOnceAcrossRestarts(t *testing.T) {
	t.Parallel()
	box := startMailbox(t, false)
	store := newStore(t)
	raw := map[string]any{"cc": []any{"audit@example.com"}, "to_field": "customer.email",
		"html": "<p>Amount <b>{{.Fields.amount}}</b> for {{.Fields.note}}</p>"}
	s := newSink(t, box, store, raw)
	batch := []sdk.Record{
		order(1, "o-1", `{"id":1,"amount":1500,"customer":{"email":"ann@example.com"},"note":"<script>"}`),
		order(2, "o-2", `{"id":2,"amount":2500,"customer":{"email":["bob@example.com","Cé <ce@example.com>"]}}`),
		order(3, "o-1", `{"id":1,"amount":1500,"note":"same key again"}`),
	}
	if err := s.Write(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := box.got()
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2 (the repeated key is skipped)", len(got))
	}
	first := parse(t, got[0].data)
	if got[0].from != "braid@example.com" || strings.Join(got[0].to, ",") != "ops@example.com,ann@example.com,audit@example.com" ||
		!got[0].tls || got[0].user != "alerts/PLAIN" {
		t.Fatalf("envelope = %+v", got[0])
	}
	if first.subject != "Order 1" || first.text != "Amount 1500" ||
		first.html != "<p>Amount <b>1500</b> for &lt;script&gt;</p>" || first.header.Get("Cc") != "<audit@example.com>" {
		t.Fatalf("message = %+v", first)
	}
	if to := parse(t, got[1].data).header.Get("To"); !strings.Contains(to, "=?utf-8?q?C=C3=A9?= <ce@example.com>") {
		t.Fatalf("To = %q", to)
	}

	// A new sink over the same store (a restart) replays the batch: only the new record goes out.
	s2 := newSink(t, box, store, raw)
	if err := s2.Write(t.Context(), append(batch, order(4, "o-3", `{"id":3,"amount":1}`))); err != nil {
		t.Fatal(err)
	}
	if got := box.got(); len(got) != 3 || parse(t, got[2].data).subject != "Order 3" {
		t.Fatalf("after restart: %d messages", len(got))
	}
}

func TestEmailImplicitTLSAndLogin(t *testing.T) {
	t.Parallel()
	box := startMailbox(t, true)
	s := newSink(t, box, newStore(t), map[string]any{"implicit": true, "auth": "login",
		"dedup_key": "{{.Fields.id}}"})
	if err := s.Write(t.Context(), []sdk.Record{order(1, "", `{"id":7}`), order(2, "", `{"id":7}`)}); err != nil {
		t.Fatal(err)
	}
	got := box.got()
	if len(got) != 1 || got[0].user != "alerts/LOGIN" || !got[0].tls {
		t.Fatalf("messages = %+v", got)
	}
}

func TestEmailHeaderInjectionIsImpossible(t *testing.T) {
	t.Parallel()
	box := startMailbox(t, false)
	store := newStore(t)
	s := newSink(t, box, store, map[string]any{"subject": "Alert {{.Fields.title}}", "to_field": "to"})
	err := s.Write(t.Context(), []sdk.Record{
		order(1, "a", `{"title":"x\r\nBcc: evil@example.com\r\n\r\nbody"}`),
		order(2, "b", `{"to":"ok@example.com\r\nBcc: evil@example.com"}`),
	})
	var be *sdk.BatchError
	if !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 1 || !strings.Contains(err.Error(), "line break") {
		t.Fatalf("err = %v", err)
	}
	got := box.got()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	p := parse(t, got[0].data)
	if p.header.Get("Bcc") != "" || strings.Join(got[0].to, ",") != "ops@example.com" || p.subject != "Alert x Bcc: evil@example.com body" {
		t.Fatalf("injected: to=%v bcc=%q subject=%q", got[0].to, p.header.Get("Bcc"), p.subject)
	}
}

func TestEmailPermanentRejectionGoesToDLQAndCanBeRetried(t *testing.T) {
	t.Parallel()
	box := startMailbox(t, false)
	store := newStore(t)
	s := newSink(t, box, store, map[string]any{"to": []any{"bounce@example.com"}})
	rec := order(5, "k", `{"id":5}`)
	err := s.Write(t.Context(), []sdk.Record{rec})
	var be *sdk.BatchError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "offset 5") {
		t.Fatalf("err = %v", err)
	}
	m, err := s.compose(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(t.Context(), storeKey(m.dedup)); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("a rejected message stays marked: %v", err)
	}
}

func TestEmailBadPasswordIsFatal(t *testing.T) {
	t.Parallel()
	box := startMailbox(t, false)
	s := newSink(t, box, newStore(t), map[string]any{"password": "wrong"})
	err := s.Write(t.Context(), []sdk.Record{order(1, "k", `{}`)})
	if !sdk.IsFatal(err) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmailRateLimit(t *testing.T) {
	t.Parallel()
	box := startMailbox(t, false)
	s := newSink(t, box, newStore(t), map[string]any{"rate_per_minute": 600})
	start := time.Now()
	if err := s.Write(t.Context(), []sdk.Record{order(1, "a", `{}`), order(2, "b", `{}`), order(3, "c", `{}`)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("3 messages at 600/min took %s, want >= 200ms", d)
	}
}

func TestEmailConfig(t *testing.T) {
	t.Parallel()
	if err := sdk.CheckSpec(SinkPlugin().Spec); err != nil {
		t.Fatal(err)
	}
	_, err := spec().Validate(map[string]any{"smtp": "smtp://u:hunter2@host", "from": "a@b\r\nX: y",
		"subject": "{{", "body": "b", "to": []any{"bad"}})
	for _, field := range []string{"smtp:", "from:", "subject:", "to:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("err = %v, want it to name %s", err, field)
		}
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
	// A rule across settings: the spec's, so lint and the API report it.
	_, err = spec().Validate(map[string]any{"smtp": "smtp://h", "from": "a@b.c", "subject": "s", "body": "b"})
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "to: set to or to_field") {
		t.Fatalf("err = %v", err)
	}
}
