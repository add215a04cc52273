package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

func openSink(t *testing.T, dir string, now func() time.Time) *Sink {
	t.Helper()
	cfg, err := spec().Validate(map[string]any{"path": dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if now != nil {
		s.now = now
	}
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func records(topic string, part int32, from, to int64) []sdk.Record {
	var out []sdk.Record
	for o := from; o <= to; o++ {
		out = append(out, sdk.Record{Topic: topic, Partition: part, Offset: o, Key: []byte("k"),
			Value: []byte(`{"n": ` + string(rune('0'+o%10)) + `}`)})
	}
	return out
}

func writeAll(t *testing.T, s *Sink, recs []sdk.Record) {
	t.Helper()
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestAuditChainAcrossRestartsAndReplays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSink(t, dir, nil)
	writeAll(t, s, records("orders", 0, 1, 3))
	writeAll(t, s, records("orders", 1, 7, 7))
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	s = openSink(t, dir, nil)
	parts := []sdk.TopicPartition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}, {Topic: "x", Partition: 0}}
	got, _ := s.WrittenOffsets(t.Context(), parts)
	if len(got) != 2 || got[parts[0]] != 3 || got[parts[1]] != 7 {
		t.Fatalf("WrittenOffsets = %v", got)
	}
	// A replay of offsets 2..5 writes only 4 and 5.
	writeAll(t, s, records("orders", 0, 2, 5))
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 6 || rep.LastSeq != 6 || rep.Files != 1 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestAuditRotatesDailyAndKeepsTheChain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	day := time.Date(2026, 11, 27, 23, 59, 0, 0, time.UTC)
	s := openSink(t, dir, func() time.Time { return day })
	writeAll(t, s, records("t", 0, 1, 2))
	day = day.Add(2 * time.Minute)
	writeAll(t, s, records("t", 0, 3, 4))
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"audit-2026-11-27.jsonl", "audit-2026-11-28.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(dir)
	if err != nil || rep.Files != 2 || rep.Entries != 4 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	// The second file alone verifies as a continuation.
	rep, err = Verify(filepath.Join(dir, "audit-2026-11-28.jsonl"))
	if err != nil || rep.FirstSeq != 3 || rep.Entries != 2 {
		t.Fatalf("Verify file = %+v, %v", rep, err)
	}
	// Removing the first file breaks the directory's chain at its start.
	_ = os.Remove(filepath.Join(dir, "audit-2026-11-27.jsonl"))
	_, err = Verify(dir)
	var verr *VerifyError
	if !errors.As(err, &verr) || verr.File != "audit-2026-11-28.jsonl" || verr.Line != 1 || !strings.Contains(verr.Reason, "starts at seq 3") {
		t.Fatalf("err = %v", err)
	}
}

func TestAuditEncodesNonJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSink(t, dir, nil)
	writeAll(t, s, []sdk.Record{
		{Topic: "t", Offset: 1, Key: []byte{0xff, 0}, Value: []byte("not json")},
		{Topic: "t", Offset: 2, Fields: map[string]any{"a": 1}},
		{Topic: "t", Offset: 3, Key: []byte("gone")},
	})
	_ = s.Close(t.Context())
	lines := readLines(t, dir)
	var e []Entry
	for _, l := range lines {
		var x Entry
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatal(err)
		}
		e = append(e, x)
	}
	if e[0].KeyEncoding != "base64" || *e[0].Key != "/wA=" || e[0].ValueEncoding != "base64" || string(e[0].Value) != `"bm90IGpzb24="` {
		t.Errorf("entry 1 = %+v", e[0])
	}
	if string(e[1].Value) != `{"a":1}` || e[1].Key != nil || e[1].PrevHash != e[0].Hash || e[0].PrevHash != Genesis {
		t.Errorf("entry 2 = %+v", e[1])
	}
	if string(e[2].Value) != "null" {
		t.Errorf("entry 3 = %+v", e[2])
	}
}

func readLines(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	b, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, dir string, lines []string) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err := os.WriteFile(names[0], []byte(strings.Join(lines, "\n")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	return names[0]
}

// rehash recomputes an edited line's own hash, as a careful forger would.
func rehash(t *testing.T, line string) string {
	var e Entry
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatal(err)
	}
	e.Hash, _ = e.ComputeHash()
	b, _ := json.Marshal(e)
	return string(b)
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func([]string) []string
		line   int
		reason string
	}{
		{"edit value", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"value":{"n":3}`, `"value":{"n":9}`, 1)
			return l
		}, 3, "this entry was changed"},
		{"edit and rehash", func(l []string) []string {
			l[2] = rehash(t, strings.Replace(l[2], `"value":{"n":3}`, `"value":{"n":9}`, 1))
			return l
		}, 4, "previous entry was replaced"},
		{"reformat", func(l []string) []string { l[1] = strings.Replace(l[1], `,"topic"`, `, "topic"`, 1); return l }, 2, "canonical"},
		{"extra field", func(l []string) []string { l[1] = strings.Replace(l[1], `{"seq"`, `{"x":1,"seq"`, 1); return l }, 2, "not a valid audit entry"},
		{"delete", func(l []string) []string { return append(l[:2:2], l[3:]...) }, 3, "1 entries were removed"},
		{"delete last", func(l []string) []string { return l[:5] }, 0, ""},
		{"insert copy", func(l []string) []string {
			return append(append(l[:3:3], l[1]), l[3:]...)
		}, 4, "inserted or moved"},
		{"reorder", func(l []string) []string { l[2], l[3] = l[3], l[2]; return l }, 3, "removed (or moved)"},
		{"cut line", func(l []string) []string { l[4] = l[4][:20]; return l }, 5, "not a valid audit entry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openSink(t, dir, nil)
			writeAll(t, s, records("t", 0, 1, 6))
			_ = s.Close(t.Context())
			name := writeLines(t, dir, tc.tamper(readLines(t, dir)))
			_, err := Verify(dir)
			if tc.line == 0 {
				// Removing the newest entries leaves a valid, shorter chain:
				// only an outside record of the last hash (see Report) can tell.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var verr *VerifyError
			if !errors.As(err, &verr) || verr.Line != tc.line || !strings.Contains(verr.Reason, tc.reason) {
				t.Fatalf("err = %v, want line %d: %s", err, tc.line, tc.reason)
			}
			if _, err := Verify(name); err == nil {
				t.Fatal("verifying the file alone missed the tampering")
			}
			// The sink refuses to extend a broken chain.
			cfg, _ := spec().Validate(map[string]any{"path": dir})
			s2, _ := NewSink(cfg, sdk.Env{})
			if err := s2.Open(t.Context()); !sdk.IsFatal(err) {
				t.Fatalf("Open on a tampered log = %v, want a fatal error", err)
			}
		})
	}
}

func TestAuditCutsTornLastLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSink(t, dir, nil)
	writeAll(t, s, records("t", 0, 1, 3))
	_ = s.Close(t.Context())
	names, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	b, _ := os.ReadFile(names[0])
	lines := bytes.SplitAfter(b, []byte("\n"))
	torn := append(append([]byte(nil), bytes.Join(lines[:2], nil)...), lines[2][:30]...)
	if err := os.WriteFile(names[0], torn, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); err == nil {
		t.Fatal("Verify accepted a torn line")
	}
	s = openSink(t, dir, nil)
	got, _ := s.WrittenOffsets(t.Context(), []sdk.TopicPartition{{Topic: "t"}})
	if got[sdk.TopicPartition{Topic: "t"}] != 2 {
		t.Fatalf("offsets after cut = %v", got)
	}
	writeAll(t, s, records("t", 0, 3, 3))
	_ = s.Close(t.Context())
	if rep, err := Verify(dir); err != nil || rep.Entries != 3 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

func TestAuditSpec(t *testing.T) {
	t.Parallel()
	if err := sdk.CheckSpec(SinkPlugin().Spec); err != nil {
		t.Fatal(err)
	}
	if _, err := spec().Validate(map[string]any{}); err == nil || !strings.Contains(err.Error(), "path") {
		t.Fatalf("err = %v", err)
	}
}

// Entries appended after the last Flush, also across a daily rotation, are
// cut on Close: the worker never confirmed them and replays them.
func TestAuditCloseAbandonsUnflushedEntries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	day := time.Date(2026, 11, 27, 23, 59, 0, 0, time.UTC)
	s := openSink(t, dir, func() time.Time { return day })
	writeAll(t, s, records("t", 0, 1, 2))
	if err := s.Write(t.Context(), records("t", 0, 3, 3)); err != nil {
		t.Fatal(err)
	}
	day = day.Add(2 * time.Minute)
	bad := sdk.Record{Topic: "t", Offset: 4, Fields: map[string]any{"x": math.Inf(1)}}
	err := s.Write(t.Context(), append([]sdk.Record{bad}, records("t", 0, 5, 5)...))
	var be *sdk.BatchError
	if !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 0 {
		t.Fatalf("write with a bad record = %v, want it rejected alone", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(dir); err != nil || rep.Entries != 2 || rep.LastSeq != 2 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	s = openSink(t, dir, func() time.Time { return day })
	tp := sdk.TopicPartition{Topic: "t"}
	if got, _ := s.WrittenOffsets(t.Context(), []sdk.TopicPartition{tp}); got[tp] != 2 {
		t.Fatalf("WrittenOffsets = %v, want 2", got)
	}
	writeAll(t, s, records("t", 0, 3, 5))
	_ = s.Close(t.Context())
	if rep, err := Verify(dir); err != nil || rep.Entries != 5 {
		t.Fatalf("Verify after replay = %+v, %v", rep, err)
	}
}
