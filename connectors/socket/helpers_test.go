package socket

import (
	"context"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	"github.com/braidhq/braid/connectors/sdk/sdktest"
)

// gauges records what a source reports through sdk.Env.SetGauge.
type gauges struct {
	mu sync.Mutex
	m  map[string]float64
}

func (g *gauges) env() sdk.Env {
	g.m = map[string]float64{}
	return sdk.Env{Gauge: func(name string, v float64) {
		g.mu.Lock()
		g.m[name] = v
		g.mu.Unlock()
	}}
}

func (g *gauges) get(name string) float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[name]
}

// waitGauge polls until the gauge reaches want.
func (g *gauges) waitGauge(t *testing.T, name string, want float64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool { return g.get(name) == want }, func() string {
		return name + " is " + ftoa(g.get(name)) + ", want " + ftoa(want)
	})
}

func ftoa(f float64) string { return big.NewFloat(f).String() }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func init() { gaugeInterval = 20 * time.Millisecond }

func validate(t *testing.T, spec sdk.Spec, raw map[string]any) sdk.Config {
	t.Helper()
	cfg, err := spec.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startTCP opens a tcp source on a free loopback port, closed at the end.
func startTCP(t *testing.T, raw map[string]any, env sdk.Env) *TCP {
	t.Helper()
	if _, ok := raw["listen"]; !ok {
		raw["listen"] = "127.0.0.1:0"
	}
	src, err := NewTCP(validate(t, tcpSpec, raw), env)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := src.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return src
}

func startUDP(t *testing.T, raw map[string]any, env sdk.Env) *UDP {
	t.Helper()
	raw["listen"] = "127.0.0.1:0"
	src, err := NewUDP(validate(t, udpSpec, raw), env)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return src
}

// readN reads and acknowledges until it has n records.
func readN(t *testing.T, src sdk.Source, n int) []sdk.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []sdk.Record
	for len(out) < n {
		recs, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
		if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) > n {
		t.Fatalf("read %d records, want %d", len(out), n)
	}
	return out
}

// readNothing checks that no record arrives within d.
func readNothing(t *testing.T, src sdk.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	recs, err := src.Read(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read %d unexpected records (%v)", len(recs), err)
	}
}

func values(recs []sdk.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, data string) {
	t.Helper()
	if _, err := c.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address nothing listens on, for the
// conformance suite, which opens the source itself.
func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// conformance runs sdktest's suite with a sender that connects (TCP: a
// connection per send; it polls until the suite opened the source) and
// sends until the test ends.
func conformance(t *testing.T, network string, p sdk.Plugin, send func(c net.Conn, i int)) {
	t.Helper()
	addr := freeAddr(t, network)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			c, err := net.DialTimeout(network, addr, time.Second)
			if err == nil {
				send(c, i)
				c.Close()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	sdktest.RunSource(t, p, sdktest.SourceCase{Config: map[string]any{"listen": addr}, Want: 2, NoResume: true})
}

// structured returns a record's fields as a transform or converter sees
// them: decoded from its value.
func structured(t *testing.T, r sdk.Record) map[string]any {
	t.Helper()
	f, err := r.Structured()
	if err != nil {
		t.Fatalf("record %s: %v", r.Value, err)
	}
	return f
}
