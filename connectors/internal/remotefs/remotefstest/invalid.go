package remotefstest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// openBadInput writes a JSON-lines file with two lines that do not parse
// between good ones, and a .gz file that is not gzip, and opens a jsonl
// source on them with on.invalid set to policy.
func (h Harness) openBadInput(t *testing.T, policy string) sdk.Source {
	t.Helper()
	local, remote := h.dir(t)
	os.WriteFile(filepath.Join(local, "a.jsonl"), []byte("{\"n\":1}\nnot json\n{\"n\":2}\n{\"n\":\n{\"n\":3}\n"), 0o644)
	os.WriteFile(filepath.Join(local, "b.jsonl.gz"), []byte("plain text, not gzip\n"), 0o644)
	src := h.open(t, context.Background(), with(fast, "path", remote, "format", "jsonl", "on.invalid", policy, "max.downloads", 1), env(), nil)
	t.Cleanup(func() { src.Close(context.Background()) })
	return src
}

// readAll reads until want records came, then checks nothing more comes.
func readAll(t *testing.T, src sdk.Source, want int) []sdk.Record {
	t.Helper()
	var got []sdk.Record
	for len(got) < want {
		recs := read(t, src, 10*time.Second)
		got = append(got, recs...)
		if err := src.Ack(context.Background(), recs[len(recs)-1].Position); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	readNone(t, src, 300*time.Millisecond)
	return got
}

// invalidDeadLetter: with on.invalid dead-letter, records that do not
// parse come in order with the good ones, their raw bytes as value and
// an error naming file and offset, and a file that is not gzip comes as
// one such record; nothing is dropped and no file is read twice.
func (h Harness) invalidDeadLetter(t *testing.T) {
	got := readAll(t, h.openBadInput(t, "dead-letter"), 6)
	var order []string
	for _, r := range got {
		p, _ := r.Headers.Get("file.path")
		switch {
		case r.Err == nil:
			order = append(order, string(r.Value))
		case strings.HasSuffix(p, "b.jsonl.gz"):
			if len(r.Value) != 0 || !strings.Contains(r.Err.Error(), "b.jsonl.gz") || !strings.Contains(r.Err.Error(), "not gzip") {
				t.Fatalf("the bad gzip file's record: value %q, error %v", r.Value, r.Err)
			}
			order = append(order, "gz!")
		default:
			if !strings.Contains(r.Err.Error(), "a.jsonl") || !strings.Contains(r.Err.Error(), "byte offset") {
				t.Fatalf("a bad line's error does not name the file and offset: %v", r.Err)
			}
			order = append(order, string(r.Value)+"!")
		}
	}
	a := strings.Join(order, "|")
	if !strings.Contains(a, `{"n":1}|not json!|{"n":2}|{"n":!|{"n":3}`) || !strings.Contains(a, "gz!") {
		t.Fatalf("records %s: want the good and the bad lines in file order and the bad gzip file", a)
	}
}

// invalidSkip: on.invalid skip drops what does not parse, a file that is
// not gzip included, and reads on.
func (h Harness) invalidSkip(t *testing.T) {
	got := readAll(t, h.openBadInput(t, "skip"), 3)
	for _, r := range got {
		if r.Err != nil {
			t.Fatalf("a record with an error under on.invalid skip: %v", r.Err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d records, want the 3 good lines", len(got))
	}
}
