package catcher

import (
	"context"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T) *Catcher {
	t.Helper()
	c, err := Start(Config{Dir: t.TempDir(), SMTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func post(t *testing.T, c *Catcher, key, body string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+c.HTTPAddr()+"/ingest/events", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %s", resp.Status)
	}
}

// A replayed request (same Idempotency-Key) replaces the first instead of
// adding to the count; arrays count their elements.
func TestHTTPCountsRecordsOncePerKey(t *testing.T) {
	t.Parallel()
	c := start(t)
	post(t, c, "events/0/1-3", `[{"a":1},{"a":2},{"a":3}]`)
	post(t, c, "events/0/1-3", `[{"a":1},{"a":2},{"a":3}]`)
	post(t, c, "", `{"single":true}`)
	if got := c.Stats(); got != (Stats{HTTPRequests: 3, HTTPRecords: 4}) {
		t.Fatalf("stats %+v", got)
	}
	b, err := os.ReadFile(filepath.Join(c.HTTPDir(), "events_0_1-3.json"))
	if err != nil || !strings.Contains(string(b), `"a":3`) {
		t.Fatalf("stored body %q, %v", b, err)
	}
}

func TestSMTPStoresMessages(t *testing.T) {
	t.Parallel()
	c := start(t)
	msg := "Subject: hello\r\n\r\nbody\r\n"
	if err := smtp.SendMail(c.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Mails; got != 1 {
		t.Fatalf("mails %d, want 1", got)
	}
	b, err := os.ReadFile(filepath.Join(c.MailDir(), "mail-000001.eml"))
	if err != nil || !strings.Contains(string(b), "Subject: hello") {
		t.Fatalf("stored %q, %v", b, err)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	_, err := Start(Config{Dir: t.TempDir(), SMTPAddr: "0.0.0.0:0", HTTPAddr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "only loopback") {
		t.Fatalf("err = %v, want a refusal of 0.0.0.0", err)
	}
}
