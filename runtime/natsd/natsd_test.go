package natsd

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func start(t *testing.T, cfg Config) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return c
}

func closeWithin(t *testing.T, c *Conn, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	began := time.Now()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(began); took > d {
		t.Fatalf("close took %s, bound %s", took, d)
	}
}

func TestEmbeddedOpensNoPort(t *testing.T) {
	c := start(t, Config{DataDir: t.TempDir()})
	defer closeWithin(t, c, 10*time.Second)
	if !c.Embedded() {
		t.Fatal("Embedded() = false for the embedded server")
	}
	if u := c.ClientURL(); u != "" {
		t.Fatalf("embedded server listens at %s without Config.Listen", u)
	}
	if c.server.Addr() != nil {
		t.Fatalf("embedded server has a listener at %s", c.server.Addr())
	}
	// JetStream answers through the in-process connection.
	if _, err := c.NC.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Fatalf("jetstream over the in-process connection: %v", err)
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestEmbeddedListen(t *testing.T) {
	addr := freeLoopbackPort(t)
	c := start(t, Config{DataDir: t.TempDir(), Listen: addr})
	defer closeWithin(t, c, 10*time.Second)
	u, err := url.Parse(c.ClientURL())
	if err != nil || u.Host != addr {
		t.Fatalf("ClientURL() = %q, want host %s", c.ClientURL(), addr)
	}
	// Another client (a second worker, the nats CLI) reaches it over TCP.
	nc, err := nats.Connect(c.ClientURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect over tcp: %v", err)
	}
	defer nc.Close()
	sub, err := c.NC.SubscribeSync("hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("hello", []byte("from tcp")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "from tcp" {
		t.Fatalf("message over tcp: %v, %v", m, err)
	}
}

func TestListenRejectsBadAddress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := Start(ctx, Config{DataDir: t.TempDir(), Listen: "no-port"}); err == nil {
		_ = c.Close(ctx)
		t.Fatal("Listen without a port accepted")
	}
}

func TestShutdownIsBoundedAndReleasesData(t *testing.T) {
	dir := t.TempDir()
	c := start(t, Config{DataDir: dir})
	js := must(t, c)
	if _, err := js.AddStream(&nats.StreamConfig{Name: "s", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish("s.1", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, c, 10*time.Second)
	if !c.NC.IsClosed() {
		t.Fatal("connection open after Close")
	}
	// The same data dir opens again (the store lock was released) with the data.
	c2 := start(t, Config{DataDir: dir})
	defer closeWithin(t, c2, 10*time.Second)
	m, err := must(t, c2).GetLastMsg("s", "s.1")
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("after restart: %v, %v", m, err)
	}
}

func TestCloseHonoursContext(t *testing.T) {
	c := start(t, Config{DataDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	began := time.Now()
	_ = c.Close(ctx) // an expired context still shuts down, without waiting
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("close with an expired context took %s", took)
	}
	if !c.NC.IsClosed() {
		t.Fatal("connection open after Close")
	}
}

func TestExternal(t *testing.T) {
	c := start(t, Config{URL: "nats://127.0.0.1:4222"})
	defer closeWithin(t, c, 10*time.Second)
	if c.Embedded() || c.ClientURL() != "" {
		t.Fatalf("external connection reports embedded=%v url=%q", c.Embedded(), c.ClientURL())
	}
	if _, err := c.NC.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Fatalf("jetstream on the external server: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("nats://user:secret@127.0.0.1:4222"); got != "nats://user:xxxxx@127.0.0.1:4222" {
		t.Fatalf("redactURL = %q", got)
	}
}

func must(t *testing.T, c *Conn) nats.JetStreamContext {
	t.Helper()
	js, err := c.NC.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	return js
}
