// Package remotefstest is the behaviour suite of the remote file connectors
// (ftp, sftp): each runs it against a real server on loopback whose files
// live in a local directory the test can see.
package remotefstest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

// Harness describes one connector and its test server.
type Harness struct {
	Source, Sink sdk.Plugin
	// Config returns a working connection config plus extra.
	Config func(extra map[string]any) map[string]any
	// Local is the local directory the server serves as Remote.
	Local, Remote string
	// Drop cuts the server's open connections, as a network failure would.
	Drop func()
}

// dir makes a fresh directory for one test; it returns its local and
// remote paths.
func (h Harness) dir(t *testing.T) (string, string) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	local := filepath.Join(h.Local, name)
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	return local, path.Join(h.Remote, name)
}

func writeLines(t *testing.T, file, prefix string, n int) {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "%s-%06d\n", prefix, i)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h Harness) open(t *testing.T, ctx context.Context, cfg map[string]any, env sdk.Env, pos sdk.Position) sdk.Source {
	t.Helper()
	c, err := h.Source.Spec.Validate(h.Config(cfg))
	if err != nil {
		t.Fatal(err)
	}
	src, err := h.Source.NewSource(c, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, pos); err != nil {
		t.Fatalf("open: %v", err)
	}
	return src
}

func env() sdk.Env { return sdk.Env{Store: sdktest.NewMemStore(), Connector: "test"} }

// read returns one batch, failing the test after timeout.
func read(t *testing.T, src sdk.Source, timeout time.Duration) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	recs, err := src.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return recs
}

// readNone checks that no record comes within d.
func readNone(t *testing.T, src sdk.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	recs, err := src.Read(ctx)
	if err == nil {
		t.Fatalf("read %d records (first %q from %v), want none yet", len(recs), recs[0].Value, recs[0].Headers)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read: %v", err)
	}
}

// WaitFor polls cond until it holds or the deadline passes.
func WaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

var fast = map[string]any{"stable.for": "0s", "poll.interval": "20ms"}

func with(base map[string]any, kv ...any) map[string]any {
	m := map[string]any{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// OpenErr opens a source with raw settings (path "/" added) and returns
// Open's error: how connecting and logging in fail.
func OpenErr(t *testing.T, p sdk.Plugin, raw map[string]any) error {
	t.Helper()
	m := map[string]any{"path": "/"}
	for k, v := range raw {
		if v != nil {
			m[k] = v
		}
	}
	cfg, err := p.Spec.Validate(m)
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.NewSource(cfg, env())
	if err != nil {
		return err
	}
	err = src.Open(context.Background(), nil)
	src.Close(context.Background())
	return err
}

// RunSourceConformance runs sdktest's source suite over three files.
func RunSourceConformance(t *testing.T, h Harness) {
	local, remote := h.dir(t)
	for i := range 3 {
		writeLines(t, filepath.Join(local, fmt.Sprintf("f%d.txt", i)), fmt.Sprint(i), 10)
	}
	sdktest.RunSource(t, h.Source, sdktest.SourceCase{
		Config: h.Config(with(fast, "path", remote, "batch.size", 4, "max.downloads", 1)), Want: 30, Timeout: 20 * time.Second,
	})
}

// RunSource runs the source behaviour tests.
func RunSource(t *testing.T, h Harness) {
	t.Run("conformance", func(t *testing.T) { RunSourceConformance(t, h) })
	t.Run("restart mid-file reads every line exactly once", func(t *testing.T) { h.restart(t, "lines", false) })
	t.Run("restart mid-file in csv", func(t *testing.T) { h.restart(t, "csv", false) })
	t.Run("restart mid-file in gzipped jsonl", func(t *testing.T) { h.restart(t, "jsonl", true) })
	t.Run("partial upload is not read before it is stable", h.partialUpload)
	t.Run("ready suffix", h.readySuffix)
	t.Run("after.read delete only after ack", func(t *testing.T) { h.afterRead(t, "delete") })
	t.Run("after.read move only after ack", func(t *testing.T) { h.afterRead(t, "move:done") })
	t.Run("binary and recursive", h.binaryRecursive)
	t.Run("binary buffers are reused only after ack", h.binaryReuse)
	t.Run("each record owns its headers", h.headersOwned)
	t.Run("on.change", h.onChange)
	t.Run("delete removes the stored state", h.deleted)
	t.Run("dropped connections resume the downloads", h.dropped)
	t.Run("a stalled server fails the read instead of hanging it", h.stalled)
	t.Run("on.invalid dead-letter hands bad records over in order", h.invalidDeadLetter)
	t.Run("on.invalid skip drops bad records and bad files", h.invalidSkip)
}

// dropped cuts every connection while files are being read: downloads
// resume where they stopped over new connections, without an error and
// without a line twice.
func (h Harness) dropped(t *testing.T) {
	local, remote := h.dir(t)
	const files, lines = 4, 5000
	for i := range files {
		writeLines(t, filepath.Join(local, fmt.Sprintf("d%d.txt", i)), fmt.Sprint(i), lines)
	}
	cfg, e := with(fast, "path", remote, "batch.size", 200, "max.downloads", 2), env()
	var gmu sync.Mutex
	gauge := map[string]float64{}
	e.Gauge = func(name string, v float64) { gmu.Lock(); gauge[name] = v; gmu.Unlock() }
	src := h.open(t, context.Background(), cfg, e, nil)
	defer func() { src.Close(context.Background()) }()
	seen := map[string]int{}
	total, drops, restarts := 0, 0, 0
	var pos sdk.Position
	for total < files*lines {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		recs, err := src.Read(ctx)
		cancel()
		if sdk.IsRetryable(err) && restarts < 5 {
			// What the worker does: restart the task from the last
			// acknowledged position.
			t.Logf("restarting after %v", err)
			restarts++
			src.Close(context.Background())
			src = h.open(t, context.Background(), cfg, e, pos)
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		pos = recs[len(recs)-1].Position
		for _, r := range recs {
			seen[string(r.Value)]++
		}
		total += len(recs)
		src.Ack(context.Background(), recs[len(recs)-1].Position)
		if drops < 3 && total >= (drops+1)*files*lines/4 {
			h.Drop()
			drops++
		}
	}
	if total != files*lines || len(seen) != files*lines {
		t.Fatalf("read %d records, %d distinct, after %d drops; want %d", total, len(seen), drops, files*lines)
	}
	// Nothing more comes (no file is read twice), and a download that was
	// still retrying when the last line arrived settles without a record.
	readNone(t, src, 500*time.Millisecond)
	gmu.Lock()
	defer gmu.Unlock()
	if v, ok := gauge["retrying_downloads"]; ok && v != 0 {
		t.Fatalf("retrying_downloads is %v once every download finished", v)
	}
	t.Logf("%d restarts; gauges %v", restarts, gauge)
}

// deleted checks that deleting the connector leaves nothing in its store.
func (h Harness) deleted(t *testing.T) {
	local, remote := h.dir(t)
	writeLines(t, filepath.Join(local, "a.txt"), "a", 3)
	cfg := with(fast, "path", remote)
	store := sdktest.NewMemStore()
	e := sdk.Env{Store: store}
	src := h.open(t, context.Background(), cfg, e, nil)
	recs := read(t, src, 10*time.Second)
	src.Ack(context.Background(), recs[len(recs)-1].Position)
	src.Close(context.Background())
	c, _ := h.Source.Spec.Validate(h.Config(cfg))
	fresh, err := h.Source.NewSource(c, e)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := fresh.(sdk.Deleter)
	if !ok {
		t.Fatal("the source does not remove its stored state when deleted (sdk.Deleter)")
	}
	if err := d.Deleted(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := store.Len(); n != 0 {
		t.Fatalf("%d keys left in the store", n)
	}
}

// restart reads many files over several connections, closes the source
// mid-file several times (dropping a batch read but not acknowledged, as a
// crash would) and reopens it at the last acknowledged position: every
// line arrives exactly once.
func (h Harness) restart(t *testing.T, format string, gz bool) {
	local, remote := h.dir(t)
	const files, lines = 16, 1500 // four rounds of reads, each closed mid-file
	for i := range files {
		var b bytes.Buffer
		if format == "csv" {
			b.WriteString("file,line\n")
		}
		for j := range lines {
			switch format {
			case "csv":
				fmt.Fprintf(&b, "%02d,%06d\n", i, j)
			case "jsonl":
				fmt.Fprintf(&b, `{"file":"%02d","line":"%06d"}`+"\n", i, j)
			default:
				fmt.Fprintf(&b, "%02d-%06d\n", i, j)
			}
		}
		name := filepath.Join(local, fmt.Sprintf("part-%02d.%s", i, format))
		data := b.Bytes()
		if gz {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			data, name = z.Bytes(), name+".gz"
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := with(fast, "path", remote, "format", format, "batch.size", 150, "max.downloads", 4)
	e := env()
	seen := map[string]int{}
	var pos sdk.Position
	total := 0
	for round := 0; total < files*lines; round++ {
		if round > 50 {
			t.Fatalf("no progress: %d of %d lines after %d rounds", total, files*lines, round)
		}
		ctx := context.Background()
		src := h.open(t, ctx, cfg, e, pos)
		for n := 0; n < 40 && total < files*lines; n++ {
			recs := read(t, src, 20*time.Second)
			for _, r := range recs {
				key := string(r.Value)
				if format != "lines" {
					key = fmt.Sprintf("%s-%s", r.Fields["file"], r.Fields["line"])
				}
				seen[key]++
			}
			total += len(recs)
			pos = recs[len(recs)-1].Position
			if err := src.Ack(ctx, pos); err != nil {
				t.Fatal(err)
			}
		}
		// A batch the log never acknowledged: lost with the crash.
		if total < files*lines {
			read(t, src, 20*time.Second)
		}
		if err := src.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if total != files*lines || len(seen) != files*lines {
		t.Fatalf("read %d records, %d distinct; want %d", total, len(seen), files*lines)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s read %d times", k, n)
		}
	}
	// Everything was read: a last reopen finds nothing more.
	src := h.open(t, context.Background(), cfg, e, pos)
	defer src.Close(context.Background())
	readNone(t, src, 300*time.Millisecond)
}

// partialUpload grows a file while the source polls: nothing is read until
// its size stayed the same for stable.for, and then all of it.
func (h Harness) partialUpload(t *testing.T) {
	local, remote := h.dir(t)
	name := filepath.Join(local, "upload.txt")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := h.open(t, context.Background(), with(fast, "path", remote, "stable.for", "400ms"), env(), nil)
	defer src.Close(context.Background())
	var lastWrite time.Time
	for i := range 8 {
		lastWrite = time.Now() // before the write: a lower bound however late this goroutine runs
		fmt.Fprintf(f, "line-%d\n", i)
		readNone(t, src, 150*time.Millisecond) // still growing: not stable
	}
	recs := read(t, src, 10*time.Second)
	if since := time.Since(lastWrite); since < 400*time.Millisecond {
		t.Fatalf("read %s after the last write, before stable.for", since)
	}
	if len(recs) != 8 {
		t.Fatalf("read %d lines, want the whole file's 8", len(recs))
	}
}

func (h Harness) readySuffix(t *testing.T) {
	local, remote := h.dir(t)
	writeLines(t, filepath.Join(local, "prices.csv"), "p", 5)
	src := h.open(t, context.Background(), with(fast, "path", remote, "ready.suffix", ".done", "after.read", "delete"), env(), nil)
	defer src.Close(context.Background())
	readNone(t, src, 300*time.Millisecond)
	if err := os.WriteFile(filepath.Join(local, "prices.csv.done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	recs := read(t, src, 10*time.Second)
	if len(recs) != 5 || string(recs[0].Value) != "p-000000" {
		t.Fatalf("read %d records, want the file's 5 (and never the marker)", len(recs))
	}
	if err := src.Ack(context.Background(), recs[len(recs)-1].Position); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "file and marker deleted", func() bool {
		return !exists(filepath.Join(local, "prices.csv")) && !exists(filepath.Join(local, "prices.csv.done"))
	})
}

// afterRead checks that a file is deleted or moved only once the position
// of its last record is acknowledged, and that a restart before that reads
// the unacknowledged records again instead of losing them.
func (h Harness) afterRead(t *testing.T, policy string) {
	local, remote := h.dir(t)
	name := filepath.Join(local, "a.txt")
	writeLines(t, name, "a", 10)
	cfg := with(fast, "path", remote, "after.read", policy, "batch.size", 6)
	e := env()
	src := h.open(t, context.Background(), cfg, e, nil)
	first := read(t, src, 10*time.Second)
	src.Ack(context.Background(), first[len(first)-1].Position)
	rest := read(t, src, 10*time.Second)
	if len(first)+len(rest) != 10 {
		t.Fatalf("read %d+%d records, want 10", len(first), len(rest))
	}
	time.Sleep(200 * time.Millisecond) // several polls: nothing may happen to the file
	if !exists(name) {
		t.Fatal("the file was removed before its last record was acknowledged")
	}
	// Crash: the last batch was never acknowledged, so it is read again.
	src.Close(context.Background())
	src = h.open(t, context.Background(), cfg, e, first[len(first)-1].Position)
	defer src.Close(context.Background())
	again := read(t, src, 10*time.Second)
	if len(again) != len(rest) || string(again[0].Value) != string(rest[0].Value) {
		t.Fatalf("after the restart read %d records from %q, want %d from %q", len(again), again[0].Value, len(rest), rest[0].Value)
	}
	if !exists(name) {
		t.Fatal("the file was removed before its last record was acknowledged")
	}
	if err := src.Ack(context.Background(), again[len(again)-1].Position); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "after.read "+policy, func() bool { return !exists(name) })
	if policy == "move:done" && !exists(filepath.Join(local, "done", "a.txt")) {
		t.Fatal("the file was not moved into done/")
	}
	readNone(t, src, 200*time.Millisecond)
}

func (h Harness) binaryRecursive(t *testing.T) {
	local, remote := h.dir(t)
	os.MkdirAll(filepath.Join(local, "sub", "deeper"), 0o755)
	want := map[string][]byte{
		"top.pdf":              bytes.Repeat([]byte{0, 1, 2, 255}, 5000),
		"sub/mid.pdf":          []byte("%PDF-1.4 mid"),
		"sub/deeper/deep.pdf":  []byte("%PDF-1.4 deep"),
		"sub/deeper/skip.json": []byte("not matched by the glob"),
	}
	for p, b := range want {
		os.WriteFile(filepath.Join(local, p), b, 0o644)
	}
	delete(want, "sub/deeper/skip.json")
	// A gzipped one: its listed size is not the record's.
	gz := bytes.Repeat([]byte("%PDF-1.4 compressed "), 4000)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(gz)
	zw.Close()
	os.WriteFile(filepath.Join(local, "sub", "zipped.pdf.gz"), zb.Bytes(), 0o644)
	want["sub/zipped.pdf.gz"] = gz
	src := h.open(t, context.Background(), with(fast, "path", remote, "format", "binary", "recursive", true, "glob", "*.pdf*"), env(), nil)
	defer src.Close(context.Background())
	got := map[string][]byte{}
	for len(got) < len(want) {
		for _, r := range read(t, src, 10*time.Second) {
			p, _ := r.Headers.Get("file.path")
			got[strings.TrimPrefix(p, remote+"/")] = r.Value
		}
	}
	for p, b := range want {
		if !bytes.Equal(got[p], b) {
			t.Fatalf("%s: got %d bytes, want %d", p, len(got[p]), len(b))
		}
	}
	readNone(t, src, 200*time.Millisecond)
}

// binaryReuse checks that a whole file's buffer is read into again only
// after Ack covered its record (sdk.Source): records held unacknowledged
// keep their bytes while more files are read, and acknowledged ones' memory
// is reused.
func (h Harness) binaryReuse(t *testing.T) {
	local, remote := h.dir(t)
	const files, hold = 12, 6
	content := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 64<<10) }
	for i := range files {
		os.WriteFile(filepath.Join(local, fmt.Sprintf("f%02d.bin", i)), content(i), 0o644)
	}
	src := h.open(t, context.Background(), with(fast, "path", remote, "format", "binary", "max.downloads", 2), env(), nil)
	defer src.Close(context.Background())
	var held []sdk.Record
	next := func() sdk.Record {
		t.Helper()
		recs := read(t, src, 10*time.Second)
		if len(recs) != 1 {
			t.Fatalf("read %d records, want one per file", len(recs))
		}
		return recs[0]
	}
	check := func(r sdk.Record) {
		t.Helper()
		p, _ := r.Headers.Get("file.path")
		var i int
		fmt.Sscanf(path.Base(p), "f%02d.bin", &i)
		if !bytes.Equal(r.Value, content(i)) {
			t.Fatalf("%s: the value changed under its record (%q...)", p, r.Value[:8])
		}
	}
	ctx := context.Background()
	first := []sdk.Record{next(), next()}
	if err := src.Ack(ctx, first[1].Position); err != nil {
		t.Fatal(err)
	}
	freed := map[*byte]bool{&first[0].Value[0]: true, &first[1].Value[0]: true}
	// Up to four files (two downloads, two waiting chunks) may have been
	// read before the Ack; the fifth or sixth after it reuses memory.
	reused := 0
	for range hold {
		r := next()
		if freed[&r.Value[0]] {
			reused++
		}
		held = append(held, r)
	}
	for _, r := range held { // unacknowledged while more files were read
		check(r)
	}
	if reused == 0 {
		t.Fatal("no acknowledged buffer was read into again")
	}
	if err := src.Ack(ctx, held[len(held)-1].Position); err != nil {
		t.Fatal(err)
	}
	for range files - 2 - hold {
		r := next()
		check(r)
		if err := src.Ack(ctx, r.Position); err != nil {
			t.Fatal(err)
		}
	}
	readNone(t, src, 200*time.Millisecond)
}

// headersOwned checks that each record's headers are its own: a transform
// that changes one record's headers in place leaves the others alone.
func (h Harness) headersOwned(t *testing.T) {
	local, remote := h.dir(t)
	writeLines(t, filepath.Join(local, "h.txt"), "h", 3)
	src := h.open(t, context.Background(), with(fast, "path", remote), env(), nil)
	defer src.Close(context.Background())
	recs := read(t, src, 10*time.Second)
	if len(recs) != 3 {
		t.Fatalf("read %d records, want 3", len(recs))
	}
	recs[0].Headers.Del("file.path")
	recs[0].Headers.Set("file.size", "changed")
	for _, r := range recs[1:] {
		if p, _ := r.Headers.Get("file.path"); !strings.HasSuffix(p, "/h.txt") {
			t.Fatalf("another record's headers changed: %v", r.Headers)
		}
		if n, _ := r.Headers.Get("file.size"); n == "changed" {
			t.Fatalf("another record's headers changed: %v", r.Headers)
		}
	}
}

func (h Harness) onChange(t *testing.T) {
	for _, policy := range []string{"ignore", "reread", "append"} {
		t.Run(policy, func(t *testing.T) {
			local, remote := h.dir(t)
			name := filepath.Join(local, "grow.txt")
			writeLines(t, name, "x", 3)
			src := h.open(t, context.Background(), with(fast, "path", remote, "on.change", policy), env(), nil)
			defer src.Close(context.Background())
			recs := read(t, src, 10*time.Second)
			src.Ack(context.Background(), recs[len(recs)-1].Position)
			time.Sleep(100 * time.Millisecond)
			f, _ := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
			fmt.Fprintf(f, "appended\n")
			f.Close()
			os.Chtimes(name, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
			switch policy {
			case "ignore":
				readNone(t, src, 300*time.Millisecond)
			case "reread":
				recs := read(t, src, 10*time.Second)
				if len(recs) != 4 || string(recs[0].Value) != "x-000000" {
					t.Fatalf("reread: %d records from %q", len(recs), recs[0].Value)
				}
			case "append":
				recs := read(t, src, 10*time.Second)
				if len(recs) != 1 || string(recs[0].Value) != "appended" {
					t.Fatalf("append: %d records from %q", len(recs), recs[0].Value)
				}
			}
		})
	}
}

// RunSink runs the sink behaviour tests.
func RunSink(t *testing.T, h Harness) {
	recs := func(first, n int) []sdk.Record {
		out := make([]sdk.Record, n)
		for i := range out {
			out[i] = sdk.Record{Topic: "orders", Partition: 1, Offset: int64(first + i), Value: []byte(fmt.Sprintf(`{"n":%d}`, first+i))}
		}
		return out
	}
	t.Run("conformance", func(t *testing.T) {
		local, remote := h.dir(t)
		sdktest.RunSink(t, h.Sink, sdktest.SinkCase{
			Config:  h.Config(map[string]any{"path": remote, "roll.size": 20}),
			Records: recs(0, 10),
			Reject:  &sdk.Record{Value: []byte("not json")},
			Check: func(t *testing.T, written []sdk.Record) {
				if n := countLines(t, local); n != len(written) {
					t.Fatalf("%d lines in the files, want %d", n, len(written))
				}
			},
		})
	})
	t.Run("parquet files roll when the columns change", func(t *testing.T) { h.parquetSink(t) })
	t.Run("a stalled server fails the flush instead of hanging it", func(t *testing.T) { h.stalledSink(t, recs) })
	t.Run("replay overwrites and no temporary file stays", func(t *testing.T) {
		local, remote := h.dir(t)
		ctx := context.Background()
		write := func(batch []sdk.Record) {
			t.Helper()
			s := h.openSink(t, map[string]any{"path": remote})
			defer s.Close(ctx)
			if err := s.Write(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// A crashed upload left a temporary file: it is removed, never named.
		os.WriteFile(filepath.Join(local, ".orders-p1-000000000000000.jsonl.tmp"), []byte("half"), 0o644)
		write(recs(0, 10))
		write(recs(0, 10)) // replay of the same batch
		write(recs(0, 5))  // a shorter replay leaves the covering file alone
		names := list(t, local)
		want := []string{"orders-p1-000000000000000-000000000000004.jsonl", "orders-p1-000000000000000-000000000000009.jsonl"}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("files %v, want %v", names, want)
		}
		write(recs(0, 12)) // covers both: they go
		names = list(t, local)
		if len(names) != 1 || names[0] != "orders-p1-000000000000000-000000000000011.jsonl" {
			t.Fatalf("files %v after a covering replay", names)
		}
		if n := countLines(t, local); n != 12 {
			t.Fatalf("%d lines, want 12", n)
		}
	})
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func countLines(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, name := range list(t, dir) {
		if strings.HasPrefix(name, ".") {
			t.Fatalf("temporary file %s left behind", name)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		n += bytes.Count(b, []byte{'\n'})
	}
	return n
}

// openSink builds and opens the sink with settings (and the harness's
// connection settings).
func (h Harness) openSink(t *testing.T, settings map[string]any) sdk.Sink {
	t.Helper()
	c, err := h.Sink.Spec.Validate(h.Config(settings))
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Sink.NewSink(c, sdk.Env{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// parquetSink writes Parquet: a record with a new field starts a new file
// with the widened columns, a record without fields is rejected, and the
// files read back (parquet-go's reader) hold every row once.
func (h Harness) parquetSink(t *testing.T) {
	local, remote := h.dir(t)
	ctx := context.Background()
	s := h.openSink(t, map[string]any{"path": remote, "format": "parquet", "parquet.compression": "zstd"})
	defer s.Close(ctx)
	var batch []sdk.Record
	for i := range 3000 {
		v := fmt.Sprintf(`{"n":%d,"name":"item %d"}`, i, i)
		if i >= 2000 {
			v = fmt.Sprintf(`{"n":%d,"name":"item %d","extra":true}`, i, i)
		}
		batch = append(batch, sdk.Record{Topic: "orders", Partition: 0, Offset: int64(i), Value: []byte(v)})
	}
	batch = append(batch, sdk.Record{Topic: "orders", Partition: 0, Offset: 3000, Value: []byte("not json")})
	err := s.Write(ctx, batch)
	var be *sdk.BatchError
	if !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 3000 {
		t.Fatalf("write: %v, want the one record that is not JSON rejected", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	names := list(t, local)
	want := []string{"orders-p0-000000000000000-000000000001999.parquet", "orders-p0-000000000002000-000000000002999.parquet"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", names, want)
	}
	for i, name := range names {
		f, err := os.Open(filepath.Join(local, name))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := pq.OpenFile(f, st.Size())
		if err != nil {
			f.Close()
			t.Fatalf("%s is not a Parquet file: %v", name, err)
		}
		var cols []string
		for _, fl := range pf.Schema().Fields() {
			cols = append(cols, fl.Name())
		}
		wantCols, wantRows := []string{"n", "name"}, int64(2000)
		if i == 1 {
			wantCols, wantRows = []string{"extra", "n", "name"}, 1000
		}
		if strings.Join(cols, ",") != strings.Join(wantCols, ",") || pf.NumRows() != wantRows {
			t.Errorf("%s: columns %v and %d rows", name, cols, pf.NumRows())
		}
		rows := make([]pq.Row, 1)
		r := pq.NewReader(pf)
		if n, err := r.ReadRows(rows); n != 1 || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("%s: read a row: %d, %v", name, n, err)
		}
		ni := slices.Index(cols, "n")
		// Schemaless JSON numbers are DOUBLE columns.
		if v := rows[0][ni]; v.Kind() != pq.Double || v.Double() != float64(2000*i) {
			t.Errorf("%s: first n = %v (%v), want %d", name, v, v.Kind(), 2000*i)
		}
		r.Close()
		f.Close()
	}
}
