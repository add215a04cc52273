package socket

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/internal/testcert"
)

func TestConformanceTCP(t *testing.T) {
	t.Parallel()
	conformance(t, "tcp", TCPPlugin(), func(c net.Conn, i int) {
		_, _ = fmt.Fprintf(c, "line %d\nline %d.1\n", i, i)
	})
}

func TestLines(t *testing.T) {
	t.Parallel()
	src := startTCP(t, map[string]any{"key.field": "peer"}, sdk.Env{})
	c := dial(t, src.Addr())
	write(t, c, "one\r\ntwo\n\nthree")
	c.Close() // the last line ends with the connection
	recs := readN(t, src, 4)
	if got := values(recs); !slices.Equal(got, []string{"one", "two", "", "three"}) {
		t.Fatalf("values = %q", got)
	}
	local := c.LocalAddr().(*net.TCPAddr)
	for _, r := range recs {
		addr, _ := r.Headers.Get(HeaderPeerAddress)
		port, _ := r.Headers.Get(HeaderPeerPort)
		at, _ := r.Headers.Get(HeaderReceived)
		if addr != "127.0.0.1" || port != fmt.Sprint(local.Port) || string(r.Key) != "127.0.0.1" {
			t.Fatalf("headers %v, key %q; want peer 127.0.0.1:%d", r.Headers, r.Key, local.Port)
		}
		if ts, err := time.Parse(time.RFC3339Nano, at); err != nil || time.Since(ts) > time.Minute {
			t.Fatalf("receive time %q: %v", at, err)
		}
	}
}

func TestLengthPrefixed(t *testing.T) {
	t.Parallel()
	for _, size := range []int{2, 4} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			src := startTCP(t, map[string]any{"framing": "length-prefixed", "length.bytes": size, "max.length": 1000}, sdk.Env{})
			frames := []string{"hello", "", "bin\x00\n\xff", strings.Repeat("x", 1000)}
			var out []byte
			// The frame of 1001 bytes is too long: skipped, and the stream is still in step.
			for _, f := range append(frames, strings.Repeat("y", 1001), "ok") {
				if size == 2 {
					out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
				} else {
					out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
				}
				out = append(out, f...)
			}
			c := dial(t, src.Addr())
			if _, err := c.Write(out); err != nil {
				t.Fatal(err)
			}
			if got := values(readN(t, src, 5)); !slices.Equal(got, append(frames, "ok")) {
				t.Fatalf("values = %q", got)
			}
			if src.invalid.Load() != 1 {
				t.Fatalf("invalid frames = %d, want 1", src.invalid.Load())
			}
		})
	}
}

// Lines longer than max.length never reach memory whole: skip drops them
// and reads on; close also ends the connection.
func TestOverlongLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("z", 200<<10) // longer than the read buffer too
	t.Run("skip", func(t *testing.T) {
		t.Parallel()
		var g gauges
		src := startTCP(t, map[string]any{"max.length": 1024}, g.env())
		c := dial(t, src.Addr())
		write(t, c, "a\n"+long+"\n"+strings.Repeat("q", 1025)+"\nb\n")
		if got := values(readN(t, src, 2)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("values = %q", got)
		}
		g.waitGauge(t, "invalid_frames", 2)
	})
	t.Run("close", func(t *testing.T) {
		t.Parallel()
		src := startTCP(t, map[string]any{"max.length": 1024, "on.invalid": "close"}, sdk.Env{})
		c := dial(t, src.Addr())
		write(t, c, "a\n"+long+"\nb\n")
		if got := values(readN(t, src, 1)); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("values = %q", got)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the connection is still open after an over-long line: %v", err)
		}
		readNothing(t, src, 100*time.Millisecond)
	})
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	var g gauges
	src := startTCP(t, map[string]any{"max.connections": 2}, g.env())
	a, b := dial(t, src.Addr()), dial(t, src.Addr())
	write(t, a, "a\n")
	write(t, b, "b\n")
	readN(t, src, 2)
	g.waitGauge(t, "connections", 2)
	extra := dial(t, src.Addr())
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("a third connection over max.connections 2 was not closed: %v", err)
	}
	g.waitGauge(t, "refused_connections", 1)
	a.Close()
	g.waitGauge(t, "connections", 1)
	again := dial(t, src.Addr()) // a freed slot is usable again
	write(t, again, "c\n")
	if got := values(readN(t, src, 1)); got[0] != "c" {
		t.Fatalf("values = %q", got)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestTLS(t *testing.T) {
	t.Parallel()
	server, client, other := testcert.New(t), testcert.New(t), testcert.New(t)
	clientCert, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: server.Pool, Certificates: []tls.Certificate{clientCert}}
	send := func(addr string, conf *tls.Config, line string) error {
		c, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := io.WriteString(c, line+"\n"); err != nil {
			return err
		}
		// A refused client certificate shows on the first read (TLS 1.3).
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		return nil
	}
	tlsConfig := func(ca string) map[string]any {
		raw := map[string]any{"tls.cert.file": server.CertFile, "tls.key.file": server.KeyFile}
		if ca != "" {
			raw["tls.ca.file"] = ca
		}
		return raw
	}
	t.Run("server only", func(t *testing.T) {
		t.Parallel()
		src := startTCP(t, tlsConfig(""), sdk.Env{})
		if err := send(src.Addr(), server.Client, "secret line"); err != nil {
			t.Fatal(err)
		}
		if recs := readN(t, src, 1); string(recs[0].Value) != "secret line" {
			t.Fatalf("value %q", recs[0].Value)
		}
		plain := dial(t, src.Addr()) // plain text is not a handshake
		write(t, plain, "not tls\n")
		readNothing(t, src, 200*time.Millisecond)
	})
	t.Run("mutual", func(t *testing.T) {
		t.Parallel()
		src := startTCP(t, tlsConfig(client.CertFile), sdk.Env{})
		if err := send(src.Addr(), server.Client, "no client cert"); err == nil {
			t.Fatal("a client without a certificate was accepted")
		}
		readNothing(t, src, 200*time.Millisecond)
		if err := send(src.Addr(), withCert, "with cert"); err != nil {
			t.Fatal(err)
		}
		recs := readN(t, src, 1)
		if cn, _ := recs[0].Headers.Get(HeaderPeerName); string(recs[0].Value) != "with cert" || cn != "braid test" {
			t.Fatalf("value %q, %s %q", recs[0].Value, HeaderPeerName, cn)
		}
	})
	t.Run("client of another CA", func(t *testing.T) {
		t.Parallel()
		src := startTCP(t, tlsConfig(other.CertFile), sdk.Env{})
		if err := send(src.Addr(), withCert, "x"); err == nil {
			t.Fatal("a client certificate of another CA was accepted")
		}
		readNothing(t, src, 200*time.Millisecond)
	})
}

// Readers stop when the buffer is full and the worker does not acknowledge:
// the senders block in TCP, nothing more is buffered, nothing is lost.
func TestBackpressureStopsReading(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	src := startTCP(t, map[string]any{"buffer.bytes": limit, "max.length": 1024}, sdk.Env{})
	c := dial(t, src.Addr())
	line := strings.Repeat("p", 100) + "\n"
	const n = 100_000 // 10 MB: more than the buffer and the sockets' buffers
	sent := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(c)
		for range n {
			if _, err := w.WriteString(line); err != nil {
				sent <- err
				return
			}
		}
		sent <- w.Flush()
	}()
	// Nothing is read: the buffer fills up to its limit and stays there.
	waitFor(t, 10*time.Second, func() bool { // A batch costs at most an eighth of the buffer.
		return src.buf.used.Load() > limit*7/8-2*(100+recordOverhead)
	}, func() string {
		return fmt.Sprintf("buffered %d of %d", src.buf.used.Load(), limit)
	})
	select {
	case err := <-sent:
		t.Fatalf("the sender finished (%v) while the source read nothing: no backpressure", err)
	case <-time.After(300 * time.Millisecond):
	}
	if used := src.buf.used.Load(); used > limit {
		t.Fatalf("buffered %d bytes, over buffer.bytes %d", used, limit)
	}
	// Records read but not acknowledged still hold their share.
	ctx := t.Context()
	recs, err := src.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-sent:
		t.Fatalf("the sender finished (%v) though nothing was acknowledged", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
		t.Fatal(err)
	}
	got := len(recs) + len(readN(t, src, n-len(recs)))
	if err := <-sent; err != nil || got != n {
		t.Fatalf("got %d of %d records (send: %v)", got, n, err)
	}
}
