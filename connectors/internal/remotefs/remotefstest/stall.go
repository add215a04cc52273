package remotefstest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
)

// stallProxy forwards TCP connections to a server and, while stalled,
// holds every byte in both directions: a server that still holds its
// connections open but has stopped answering, the fault a deadline must
// catch (a dropped connection is one the client notices by itself).
type stallProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	wake    *sync.Cond
	stalled bool
	closed  bool
	conns   []net.Conn
}

func startStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	p.wake = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *stallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pipe(s, c)
		go p.pipe(c, s)
	}
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled && !p.closed {
				p.wake.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stall holds (true) or passes again (false) every connection's bytes.
func (p *stallProxy) stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.mu.Unlock()
	p.wake.Broadcast()
}

func (p *stallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wake.Broadcast()
}

// stalled reads files through a proxy that stops passing bytes halfway:
// within a few timeouts a read fails with a retryable error (which restarts
// the task) instead of waiting for ever, and once the server answers again
// the restarted source delivers every line exactly once.
func (h Harness) stalled(t *testing.T) {
	local, remote := h.dir(t)
	const files, lines = 3, 3000
	for i := range files {
		writeLines(t, filepath.Join(local, fmt.Sprintf("s%d.txt", i)), fmt.Sprint(i), lines)
	}
	base := h.Config(nil)
	target := net.JoinHostPort(fmt.Sprint(base["host"]), fmt.Sprint(base["port"]))
	proxy := startStallProxy(t, target)
	const timeout = time.Second
	cfg := with(fast, "path", remote, "batch.size", 200, "max.downloads", 1,
		"timeout", timeout.String(), "port", strconv.Itoa(proxy.port()))
	e := env()
	src := h.open(t, context.Background(), cfg, e, nil)
	defer func() { src.Close(context.Background()) }()
	seen := map[string]int{}
	var pos sdk.Position
	take := func(recs []sdk.Record) {
		for _, r := range recs {
			seen[string(r.Value)]++
		}
		pos = recs[len(recs)-1].Position
		if err := src.Ack(context.Background(), pos); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	take(read(t, src, 20*time.Second))
	proxy.stall(true)
	stalledAt := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		recs, err := src.Read(ctx)
		cancel()
		if err == nil {
			take(recs) // what was in flight before the stall
			continue
		}
		if !sdk.IsRetryable(err) {
			t.Fatalf("read from a stalled server: %v, want a retryable error", err)
		}
		if waited := time.Since(stalledAt); waited > 10*timeout {
			t.Fatalf("read from a stalled server failed only after %v (timeout %v): %v", waited, timeout, err)
		}
		t.Logf("after %v: %v", time.Since(stalledAt).Round(time.Millisecond), err)
		break
	}
	proxy.stall(false)
	// What the worker does: restart the task from the acknowledged position.
	src.Close(context.Background())
	src = h.open(t, context.Background(), cfg, e, pos)
	total := 0
	for _, n := range seen {
		total += n
	}
	for total < files*lines {
		recs := read(t, src, 30*time.Second)
		take(recs)
		total += len(recs)
	}
	if total != files*lines || len(seen) != files*lines {
		t.Fatalf("read %d records, %d distinct; want %d once each", total, len(seen), files*lines)
	}
	readNone(t, src, 300*time.Millisecond)
}

// stalledSink writes through a proxy that stops passing bytes before the
// flush: the flush fails within a few timeouts instead of waiting for ever,
// Close returns, and once the server answers again a new sink (what the
// worker does on a restart) writes the same records once.
func (h Harness) stalledSink(t *testing.T, recs func(first, n int) []sdk.Record) {
	local, remote := h.dir(t)
	base := h.Config(nil)
	proxy := startStallProxy(t, net.JoinHostPort(fmt.Sprint(base["host"]), fmt.Sprint(base["port"])))
	const timeout = time.Second
	settings := map[string]any{"path": remote, "timeout": timeout.String(), "port": strconv.Itoa(proxy.port())}
	ctx := context.Background()
	bounded := func(what string, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- f() }()
		select {
		case err := <-done:
			if waited := time.Since(start); waited > 10*timeout {
				t.Fatalf("%s took %v (timeout %v): %v", what, waited, timeout, err)
			}
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s against a stalled server still waits after 30s", what)
			return nil
		}
	}
	s := h.openSink(t, settings)
	if err := s.Write(ctx, recs(0, 1000)); err != nil {
		t.Fatal(err)
	}
	proxy.stall(true)
	if err := bounded("flush", func() error { return s.Flush(ctx) }); err == nil {
		t.Fatal("a flush to a stalled server succeeded")
	} else {
		t.Logf("flush: %v", err)
	}
	bounded("close", func() error { return s.Close(ctx) })
	proxy.stall(false)
	s = h.openSink(t, settings)
	defer s.Close(ctx)
	if err := s.Write(ctx, recs(0, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, local); n != 1000 {
		t.Fatalf("%d lines in the files after the retry, want 1000", n)
	}
}
