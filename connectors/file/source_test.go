package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

func newTestSource(t *testing.T, raw map[string]any) *Source {
	t.Helper()
	cfg, err := sourceSpec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(cfg, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return src.(*Source)
}

func openAt(t *testing.T, raw map[string]any, pos sdk.Position) *Source {
	t.Helper()
	s := newTestSource(t, raw)
	if err := s.Open(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// readAll reads until end of input (non-follow).
func readAll(t *testing.T, s *Source) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	for {
		recs, err := s.Read(context.Background())
		out = append(out, recs...)
		if errors.Is(err, sdk.ErrEndOfInput) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readUntil reads in follow mode until n records arrived or the deadline passes.
func readUntil(t *testing.T, s *Source, n int) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []sdk.Record
	for len(out) < n {
		recs, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	return out
}

func values(recs []sdk.Record) string {
	var b []string
	for _, r := range recs {
		b = append(b, string(r.Value))
	}
	return strings.Join(b, ",")
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestSourceConformance(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	writeFile(t, filepath.Join(dir, "a.log"), b.String())
	sdktest.RunSource(t, SourcePlugin(), sdktest.SourceCase{
		Config: map[string]any{"path": filepath.Join(dir, "*.log"), "batch.size": 7},
		Want:   50,
	})
}

func TestSourceLinesAndPartialLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.txt")
	writeFile(t, path, "a\r\nbb\n\nccc\ndd")
	s := openAt(t, map[string]any{"path": path}, nil)
	recs := readAll(t, s)
	if got := values(recs); got != "a,bb,,ccc,dd" {
		t.Fatalf("values %q", got)
	}
	p, err := decodePosition(recs[3].Position)
	if err != nil || len(p.Files) != 1 || p.Files[0].Offset != 11 || p.Files[0].Path != path {
		t.Fatalf("position %s: %+v %v", recs[3].Position, p, err)
	}
}

func TestSourceResumeNoGapsNoDuplicates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []string
	for _, name := range []string{"a.log", "b.log"} {
		var b strings.Builder
		for i := range 30 {
			line := fmt.Sprintf("%s-%d", name, i)
			want = append(want, line)
			b.WriteString(line + "\n")
		}
		writeFile(t, filepath.Join(dir, name), b.String())
	}
	cfg := map[string]any{"path": filepath.Join(dir, "*.log"), "batch.size": 4}
	all := readAll(t, openAt(t, cfg, nil))
	if values(all) != strings.Join(want, ",") {
		t.Fatalf("first read: %s", values(all))
	}
	for _, cut := range []int{0, 3, 29, 30, 45, 59} {
		rest := readAll(t, openAt(t, cfg, all[cut].Position))
		if got, w := values(rest), strings.Join(want[cut+1:], ","); got != w {
			t.Fatalf("resume after record %d: got %q, want %q", cut, got, w)
		}
	}
}

func TestSourceCSV(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.csv")
	writeFile(t, path, "id,name,note\n1,ann,plain\n2,\"bob, jr\",\"two\nlines \"\"quoted\"\"\"\n3,cy,\n")
	cfg := map[string]any{"path": path, "format": "csv"}
	recs := readAll(t, openAt(t, cfg, nil))
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	if recs[1].Fields["name"] != "bob, jr" || recs[1].Fields["note"] != "two\nlines \"quoted\"" || recs[2].Fields["note"] != "" {
		t.Fatalf("fields %v %v", recs[1].Fields, recs[2].Fields)
	}
	// Resuming past the header still names the columns.
	rest := readAll(t, openAt(t, cfg, recs[0].Position))
	if len(rest) != 2 || rest[0].Fields["id"] != "2" {
		t.Fatalf("resumed %v", rest)
	}
}

func TestSourceJSONLInvalid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	writeFile(t, path, "{\"a\":1}\nnot json\n{\"a\":3}\n")
	s := openAt(t, map[string]any{"path": path, "format": "jsonl"}, nil)
	_, err := s.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "offset 17") || !strings.Contains(err.Error(), path) {
		t.Fatalf("want an error naming file and offset, got %v", err)
	}
	recs := readAll(t, openAt(t, map[string]any{"path": path, "format": "jsonl", "on.invalid": "skip"}, nil))
	if len(recs) != 2 || recs[1].Fields["a"] != 3.0 || string(recs[1].Value) != `{"a":3}` {
		t.Fatalf("records %v", recs)
	}
	// dead-letter: the bad line comes in its place, raw, with the error;
	// its position lies between its neighbours'.
	recs = readAll(t, openAt(t, map[string]any{"path": path, "format": "jsonl", "on.invalid": "dead-letter"}, nil))
	if len(recs) != 3 || recs[0].Err != nil || recs[2].Err != nil || string(recs[2].Value) != `{"a":3}` {
		t.Fatalf("records %v", recs)
	}
	if bad := recs[1]; bad.Err == nil || string(bad.Value) != "not json" ||
		!strings.Contains(bad.Err.Error(), path) || !strings.Contains(bad.Err.Error(), "offset 17") {
		t.Fatalf("the bad line's record: value %q, error %v", bad.Value, bad.Err)
	}
	rest := readAll(t, openAt(t, map[string]any{"path": path, "format": "jsonl", "on.invalid": "dead-letter"}, recs[1].Position))
	if len(rest) != 1 || string(rest[0].Value) != `{"a":3}` {
		t.Fatalf("resumed after the bad line: %v", rest)
	}
}

func TestSourceFollowPartialRotationTruncation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "1\n2\n3")
	s := openAt(t, map[string]any{"path": path, "follow": true, "poll.interval": "10ms"}, nil)
	if got := values(readUntil(t, s, 2)); got != "1,2" {
		t.Fatalf("got %q", got)
	}
	appendFile(t, path, "3\n4\n") // completes the partial line
	if got := values(readUntil(t, s, 2)); got != "33,4" {
		t.Fatalf("got %q", got)
	}
	// Rotation: rename, the writer adds a last line to the old file, a new file appears.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", "5\n")
	writeFile(t, path, "6\n7\n")
	got := readUntil(t, s, 3)
	if values(got) != "5,6,7" {
		t.Fatalf("after rotation got %q", values(got))
	}
	// Truncation: the file starts over.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "8\n")
	if got := values(readUntil(t, s, 1)); got != "8" {
		t.Fatalf("after truncation got %q", got)
	}
	// A restart at the last position resumes in the new file after "8".
	last := readPos(t, got[len(got)-1].Position)
	if len(last.Files) != 1 || last.Files[0].Offset != 4 {
		t.Fatalf("position %+v", last)
	}
}

func readPos(t *testing.T, b []byte) position {
	p, err := decodePosition(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSourceResumeAfterRotationWhileStopped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "1\n2\n3\n")
	cfg := map[string]any{"path": path + "*", "follow": true, "poll.interval": "10ms"}
	s := openAt(t, cfg, nil)
	recs := readUntil(t, s, 3)
	s.Close(context.Background())
	// While stopped: rotate (the old file keeps matching the glob) and write on.
	appendFile(t, path, "4\n")
	os.Rename(path, path+".1")
	writeFile(t, path, "5\n")
	s2 := openAt(t, cfg, recs[1].Position)
	got := readUntil(t, s2, 3)
	if values(got) != "3,4,5" {
		t.Fatalf("got %q", values(got))
	}
}

func TestSourceStartEnd(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "old\n")
	s := openAt(t, map[string]any{"path": path, "follow": true, "start": "end", "poll.interval": "10ms"}, nil)
	appendFile(t, path, "new\n")
	if got := values(readUntil(t, s, 1)); got != "new" {
		t.Fatalf("got %q", got)
	}
}

func TestSourceNoMatch(t *testing.T) {
	t.Parallel()
	s := newTestSource(t, map[string]any{"path": filepath.Join(t.TempDir(), "*.nope")})
	if err := s.Open(context.Background(), nil); err == nil || !sdk.IsFatal(err) {
		t.Fatalf("want a fatal error, got %v", err)
	}
	if _, err := sourceSpec.Validate(map[string]any{"path": "x", "format": "xml"}); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("bad format accepted: %v", err)
	}
}

func BenchmarkSourceLines(b *testing.B) {
	path := filepath.Join(b.TempDir(), "in.log")
	line := strings.Repeat("x", 255) + "\n"
	const n = 100_000
	writeFile(&testing.T{}, path, strings.Repeat(line, n))
	b.SetBytes(int64(n * len(line)))
	b.ReportAllocs()
	for b.Loop() {
		cfg, _ := sourceSpec.Validate(map[string]any{"path": path})
		src, _ := NewSource(cfg, sdk.Env{})
		s := src.(*Source)
		if err := s.Open(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			recs, err := s.Read(context.Background())
			got += len(recs)
			if err != nil {
				break
			}
		}
		s.Close(context.Background())
		if got != n {
			b.Fatalf("read %d", got)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
