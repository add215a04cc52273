// Package natstest runs real NATS JetStream clusters inside a test process:
// nodes with routes on loopback ports, each with its own file store, that a
// test can stop, kill, restart and cut off from the others. It is the ground
// the chaos suite stands on (runtime/worker/chaos_test.go, runtime/log's
// acceptance suite on a cluster).
package natstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of in-process nodes.
type Cluster struct {
	t     testing.TB
	name  string
	mu    sync.Mutex
	nodes []*Node
}

// Node is one server of a cluster.
type Node struct {
	Name        string
	Port        int // client port
	ClusterPort int
	dir         string
	srv         *server.Server
}

// Start starts an n-node cluster and waits until JetStream has a meta
// leader; every node stops when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, name: fmt.Sprintf("chaos-%d", time.Now().UnixNano()%100000)}
	base := t.TempDir()
	for i := range n {
		c.nodes = append(c.nodes, &Node{Name: fmt.Sprintf("n%d", i+1), Port: freePort(t), ClusterPort: freePort(t),
			dir: filepath.Join(base, fmt.Sprintf("n%d", i+1))})
	}
	for i := range c.nodes {
		c.Restart(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	c.WaitReady()
	return c
}

// Ports come from below Linux's ephemeral range (32768–60999): a port the
// kernel handed out with :0 is free again while its node is down, and any
// outgoing connection of the test process (a route, a client, a database
// driver in a parallel package) may take it as its local port, so the node
// could not listen there again. Below the range only a listener can.
const portLow, portHigh = 20000, 32000

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

func freePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		p := portLow + rand.IntN(portHigh-portLow)
		if portUsed[p] || !portFree(p) {
			continue
		}
		portUsed[p] = true
		return p
	}
	t.Fatal("natstest: no free port below the ephemeral range")
	return 0
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

func (c *Cluster) options(nd *Node) *server.Options {
	var routes []*url.URL
	for _, o := range c.nodes {
		if o != nd {
			routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", o.ClusterPort)})
		}
	}
	return &server.Options{
		ServerName: nd.Name, Host: "127.0.0.1", Port: nd.Port, NoSigs: true, MaxPayload: 8 << 20,
		JetStream: true, StoreDir: nd.dir,
		Cluster: server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: nd.ClusterPort},
		Routes:  routes,
		// Quick elections and reconnects keep each scenario short.
		LameDuckDuration: time.Second, LameDuckGracePeriod: 100 * time.Millisecond,
	}
}

// URLs returns every node's client URL, comma-separated (what --nats-url takes).
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.Port)
	}
	return strings.Join(urls, ",")
}

// URL returns one node's client URL.
func (c *Cluster) URL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.nodes[i].Port) }

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.nodes) }

// Server returns node i's server, nil while it is down.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Stop shuts node i down at once, without lame-duck mode: clients and the
// other nodes see it vanish, as after kill -9 (its file store keeps what it
// wrote, as a killed process's would).
func (c *Cluster) Stop(i int) { c.down(i, (*server.Server).Shutdown) }

// LameDuck stops node i gracefully, the way a rolling upgrade does: it
// stops taking clients, hands its leaderships over and exits.
func (c *Cluster) LameDuck(i int) { c.down(i, (*server.Server).LameDuckShutdown) }

func (c *Cluster) down(i int, how func(*server.Server)) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		how(srv)
		srv.WaitForShutdown()
	}
}

// Restart starts node i again on its ports and store (a no-op when it runs).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	if nd.srv != nil {
		return
	}
	// The ports of a node that just stopped may linger a moment: wait for
	// them (bounded), so that a start does not fail on a busy port.
	deadline := time.Now().Add(10 * time.Second)
	for !portFree(nd.Port) || !portFree(nd.ClusterPort) {
		if time.Now().After(deadline) {
			c.t.Fatalf("start node %s: ports %d/%d still busy after 10s", nd.Name, nd.Port, nd.ClusterPort)
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
	var err error
	for range 3 {
		var srv *server.Server
		srv, err = server.NewServer(c.options(nd))
		if err != nil {
			break
		}
		go srv.Start()
		if srv.ReadyForConnections(10 * time.Second) {
			nd.srv = srv
			return
		}
		srv.Shutdown()
		err = fmt.Errorf("node %s did not become ready in 10s", nd.Name)
	}
	c.t.Fatalf("start node %s: %v", nd.Name, err)
}

// WaitReady waits until the running nodes have a JetStream meta leader
// and every one of them is current with it.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Ready: a meta leader that has the statistics of every running
		// node (placement skips a node it has none of yet), all current.
		leader, current, running := false, true, 0
		for i := range c.nodes {
			srv := c.Server(i)
			if srv == nil {
				continue
			}
			running++
			if !srv.JetStreamIsCurrent() {
				current = false
			}
		}
		for i := range c.nodes {
			if srv := c.Server(i); srv != nil && srv.JetStreamIsLeader() && len(srv.JetStreamClusterPeers()) >= running {
				leader = true
			}
		}
		if leader && current {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the cluster elected no JetStream meta leader in 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
}

// StreamLeader returns the index of the node leading a stream, or -1.
func (c *Cluster) StreamLeader(stream string) int {
	for i := range c.nodes {
		if srv := c.Server(i); srv != nil && srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// WaitStreamLeader waits until a running node leads the stream.
func (c *Cluster) WaitStreamLeader(stream string) int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if i := c.StreamLeader(stream); i >= 0 {
			return i
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("stream %s has no leader after 30s", stream)
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
}
