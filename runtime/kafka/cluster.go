package kafka

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/braidhq/braid/runtime/log"
)

// Every worker serves the protocol and is one broker. Brokers register in a
// TTL bucket (broker/<node id> → host, port) and refresh their key; each
// keeps the live set from a watch of the bucket (joins, and the deletes of
// brokers that close) and a poll of its keys (expiries, which the watch
// does not see). Partition leaders and group coordinators are spread over
// the live set by rendezvous hashing, so a broker that leaves moves only
// what it led.
//
// Leader epochs are one cluster-wide membership generation, kept in the
// braid_kafka bucket (which does not expire) under "membership" with the
// live set it was counted for. A broker whose live set differs from the
// stored one raises the generation with a compare-and-set; every broker
// adopts the highest generation it has read and never answers a lower one,
// and Metadata reads the stored generation (from the stream leader) before
// it answers, so no broker answers an epoch below one another broker has
// answered before. Every partition's epoch rises at each membership change,
// also when its leader stays: Kafka allows that, and a client only needs
// epochs that never go backwards.
const (
	brokersBucket = "braid_kafka_brokers"
	brokerPrefix  = "broker/"
	membershipKey = "membership"
	nodeIDPrefix  = "node-id/" // worker id → node id, in kafkaBucket
	nodeIDsKey    = "node-ids" // its revisions are the node ids handed out

	defaultBrokerTTL     = 10 * time.Second
	defaultBrokerRefresh = 2500 * time.Millisecond
	// maxKeyedWorkerID is the longest worker id used as a key as it is;
	// longer ones are hashed.
	maxKeyedWorkerID = 128
)

// brokerInfo is one broker as the registry holds it.
type brokerInfo struct {
	ID     int32  `json:"id"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
	Worker string `json:"worker,omitempty"`
}

// membership is the stored generation and the live set it was counted for.
type membership struct {
	Generation int32   `json:"generation"`
	Brokers    []int32 `json:"brokers"`
}

// view is the cluster as this server sees it at one moment.
type view struct {
	self    brokerInfo
	brokers []brokerInfo // sorted by id; always holds self
	epoch   int32
}

// single is true when this server is the only broker it knows of: it then
// leads every partition and coordinates every group, as a standalone
// broker does.
func (v view) single() bool { return len(v.brokers) <= 1 }

// leader is the broker leading a partition.
func (v view) leader(topic string, part int32) brokerInfo {
	return v.pick("p:" + topic + "/" + strconv.Itoa(int(part)))
}

// coordinator is the broker coordinating a group.
func (v view) coordinator(group string) brokerInfo { return v.pick("g:" + group) }

func (v view) leads(topic string, part int32) bool {
	return v.single() || v.leader(topic, part).ID == v.self.ID
}

func (v view) coordinates(group string) bool {
	return v.single() || v.coordinator(group).ID == v.self.ID
}

// pick is rendezvous (highest random weight) hashing of key over the brokers.
func (v view) pick(key string) brokerInfo {
	if v.single() {
		return v.self
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	base := h.Sum64()
	best, bestScore := v.brokers[0], uint64(0)
	for i, b := range v.brokers {
		score := mix64(base ^ (uint64(uint32(b.ID)) * 0x9e3779b97f4a7c15))
		if i == 0 || score > bestScore {
			best, bestScore = b, score
		}
	}
	return best
}

// mix64 is splitmix64's finalizer: every input bit moves every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (v view) has(id int32) bool {
	for _, b := range v.brokers {
		if b.ID == id {
			return true
		}
	}
	return false
}

func (v view) ids() []int32 {
	out := make([]int32, len(v.brokers))
	for i, b := range v.brokers {
		out[i] = b.ID
	}
	return out
}

// cluster is this server's registration and its view of the others.
type cluster struct {
	s       *Server
	ttl     time.Duration
	refresh time.Duration

	self  brokerInfo // set by start, before the server serves
	kv    *log.KV    // brokersBucket
	state *log.KV    // kafkaBucket

	live  atomic.Pointer[liveSet]
	epoch atomic.Int32 // the highest generation read; never decreases

	// Owned by the loop goroutine (and start, before it runs).
	known   map[int32]brokerInfo
	polled  time.Time
	members []int32 // the live set last reconciled with the stored generation
	clash   bool    // another broker was seen registering this node id

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// liveSet is a published live set and when it was last confirmed by a poll.
type liveSet struct {
	brokers []brokerInfo
	at      time.Time
}

func newCluster(s *Server) *cluster {
	return &cluster{s: s, ttl: defaultBrokerTTL, refresh: defaultBrokerRefresh, known: map[int32]brokerInfo{}}
}

// current is the view without I/O. A live set not confirmed for a TTL
// (the bucket unreachable) is unknown: this server then acts alone.
func (c *cluster) current() view {
	v := view{self: c.self, epoch: c.epoch.Load()}
	if ls := c.live.Load(); ls != nil && time.Since(ls.at) <= c.ttl {
		v.brokers = ls.brokers
	} else {
		v.brokers = []brokerInfo{c.self}
	}
	return v
}

// fresh is the view with the stored generation read first, so this answer's
// epochs are at least any other broker's before it.
func (c *cluster) fresh(ctx context.Context) view {
	if c.state != nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if m, _, err := c.readMembership(ctx); err == nil {
			c.raise(m.Generation)
		}
		cancel()
	}
	return c.current()
}

func (c *cluster) raise(gen int32) {
	for {
		old := c.epoch.Load()
		if gen <= old || c.epoch.CompareAndSwap(old, gen) {
			return
		}
	}
}

// start picks the node id, registers and reads the others once (so the
// first Metadata already lists them), then keeps both up to date.
func (c *cluster) start(ctx context.Context, self brokerInfo, nodeID int32) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	state, err := c.s.log.KV(ctx, kafkaBucket)
	if err != nil {
		return fmt.Errorf("kafka: broker registry: %w", err)
	}
	kv, err := c.s.log.KVWithTTL(ctx, brokersBucket, c.ttl)
	if err != nil {
		return fmt.Errorf("kafka: broker registry: %w", err)
	}
	self.ID = nodeID
	if nodeID <= 0 && self.Worker != "" {
		if self.ID, err = allocNodeID(ctx, state, self.Worker); err != nil {
			return fmt.Errorf("kafka: node id of worker %q: %w", self.Worker, err)
		}
	}
	c.self, c.kv, c.state = self, kv, state
	c.register(ctx)
	c.poll(ctx)
	c.update(ctx)
	lctx, lcancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel, c.done = lcancel, make(chan struct{})
	go c.loop(lctx)
	return nil
}

// stop ends the registration; deregister deletes this broker's key so the
// others drop it at once (a worker that dies leaves it to expire).
func (c *cluster) stop(deregister bool) {
	c.once.Do(func() {
		if c.cancel == nil {
			return
		}
		c.cancel()
		<-c.done
		if deregister {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := c.kv.Delete(ctx, c.key(c.self.ID)); err != nil {
				c.s.logger.Warn("kafka broker deregistration", "err", err)
			}
		}
	})
}

func (c *cluster) key(id int32) string { return brokerPrefix + strconv.Itoa(int(id)) }

func (c *cluster) loop(ctx context.Context) {
	defer close(c.done)
	tick := time.NewTicker(c.refresh)
	defer tick.Stop()
	var w <-chan log.Entry
	watch := func() {
		var err error
		if w, err = c.kv.Watch(ctx, brokerPrefix); err != nil {
			c.s.logger.Warn("kafka broker registry: watch", "err", err)
			w = nil
		}
	}
	watch()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w:
			if !ok {
				w = nil // polled until the next tick opens it again
				continue
			}
			if c.apply(e) {
				c.update(ctx)
			}
		case <-tick.C:
			if w == nil && ctx.Err() == nil {
				watch()
			}
			c.register(ctx)
			c.poll(ctx)
			c.update(ctx)
			rctx, cancel := context.WithTimeout(ctx, c.refresh)
			if m, _, err := c.readMembership(rctx); err == nil {
				c.raise(m.Generation)
			}
			cancel()
		}
	}
}

func (c *cluster) register(ctx context.Context) {
	val, _ := json.Marshal(c.self)
	ctx, cancel := context.WithTimeout(ctx, c.refresh)
	defer cancel()
	if _, err := c.kv.Put(ctx, c.key(c.self.ID), val); err != nil {
		c.s.logger.Warn("kafka broker registration", "err", err)
	}
}

// apply takes one watched change; true when the live set changed.
func (c *cluster) apply(e log.Entry) bool {
	id, ok := parseBrokerKey(e.Key)
	if !ok {
		return false
	}
	if e.Deleted {
		_, had := c.known[id]
		if had {
			c.s.logger.Info("kafka broker left", "node", id)
		}
		delete(c.known, id)
		return had
	}
	var b brokerInfo
	if json.Unmarshal(e.Value, &b) != nil || b.ID != id {
		return false
	}
	if id == c.self.ID {
		if b != c.self && !c.clash {
			c.clash = true
			c.s.logger.Error("another Kafka broker registers with this node id: give each worker its own --worker-id",
				"node", id, "other", net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), "other_worker", b.Worker)
		}
		return false
	}
	old, had := c.known[id]
	c.known[id] = b
	if !had {
		c.s.logger.Info("kafka broker joined", "node", id, "addr", net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
	}
	return !had || old != b
}

// poll lists the registered brokers: the keys that expired are gone.
func (c *cluster) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.refresh)
	defer cancel()
	keys, err := c.kv.Keys(ctx, brokerPrefix)
	if err != nil {
		c.s.logger.Warn("kafka broker registry: list", "err", err)
		return
	}
	listed := map[int32]bool{}
	for _, k := range keys {
		id, ok := parseBrokerKey(k)
		if !ok || id == c.self.ID {
			continue
		}
		listed[id] = true
		if _, ok := c.known[id]; ok {
			continue
		}
		e, err := c.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var b brokerInfo
		if json.Unmarshal(e.Value, &b) == nil && b.ID == id {
			c.s.logger.Info("kafka broker joined", "node", id, "addr", net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
			c.known[id] = b
		}
	}
	for id := range c.known {
		if !listed[id] {
			c.s.logger.Info("kafka broker left", "node", id)
			delete(c.known, id)
		}
	}
	c.polled = time.Now()
}

func parseBrokerKey(k string) (int32, bool) {
	s, ok := strings.CutPrefix(k, brokerPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil
}

// update publishes the known brokers as the live set, after raising the
// generation for it: a client never sees leaders move at the same epoch
// (unless the bucket cannot be written; then liveness comes first).
func (c *cluster) update(ctx context.Context) {
	bs := make([]brokerInfo, 0, len(c.known)+1)
	bs = append(bs, c.self)
	for _, b := range c.known {
		bs = append(bs, b)
	}
	slices.SortFunc(bs, func(a, b brokerInfo) int { return int(a.ID) - int(b.ID) })
	if !c.polled.IsZero() {
		c.reconcile(ctx, view{brokers: bs}.ids())
	}
	c.live.Store(&liveSet{brokers: bs, at: c.polled})
}

// reconcile raises the stored generation when ids, this broker's live set,
// is not the set it was counted for; failures are retried at the next tick.
func (c *cluster) reconcile(ctx context.Context, ids []int32) {
	if slices.Equal(ids, c.members) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.refresh)
	defer cancel()
	for range 5 {
		m, rev, err := c.readMembership(ctx)
		switch {
		case errors.Is(err, log.ErrKeyNotFound):
			next := membership{Generation: 1, Brokers: ids}
			_, err = c.state.Create(ctx, membershipKey, mustJSON(next))
			if err == nil {
				c.adopt(next)
				return
			}
			if errors.Is(err, log.ErrKeyExists) {
				continue
			}
		case err != nil:
		case slices.Equal(m.Brokers, ids):
			c.adopt(m)
			return
		case m.Generation == math.MaxInt32:
			c.s.logger.Error("kafka membership generation is at its maximum: leader epochs no longer rise")
			c.adopt(m)
			return
		default:
			next := membership{Generation: m.Generation + 1, Brokers: ids}
			_, err = c.state.Update(ctx, membershipKey, mustJSON(next), rev)
			if err == nil {
				c.s.logger.Info("kafka brokers changed", "brokers", ids, "generation", next.Generation)
				c.adopt(next)
				return
			}
			if errors.Is(err, log.ErrWrongRevision) {
				continue
			}
		}
		c.s.logger.Warn("kafka membership generation", "err", err)
		return
	}
}

func (c *cluster) adopt(m membership) {
	c.members = m.Brokers
	c.raise(m.Generation)
}

func (c *cluster) readMembership(ctx context.Context) (membership, uint64, error) {
	e, err := c.state.Get(ctx, membershipKey)
	if err != nil {
		return membership{}, 0, err
	}
	var m membership
	if err := json.Unmarshal(e.Value, &m); err != nil {
		return membership{}, 0, fmt.Errorf("kafka membership: %w", err)
	}
	slices.Sort(m.Brokers)
	return m, e.Revision, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// allocNodeID returns the worker's node id, handing out a new one the first
// time: the revision of a write to the braid_kafka bucket, unique across
// workers; stored under the worker id, so a restarted worker keeps it.
func allocNodeID(ctx context.Context, state *log.KV, worker string) (int32, error) {
	if len(worker) > maxKeyedWorkerID {
		sum := sha256.Sum256([]byte(worker))
		worker = "sha256-" + hex.EncodeToString(sum[:])
	}
	key := nodeIDPrefix + worker
	for range 3 {
		e, err := state.Get(ctx, key)
		if err == nil {
			n, err := strconv.ParseInt(string(e.Value), 10, 32)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("stored node id %q is not a positive int32", e.Value)
			}
			return int32(n), nil
		}
		if !errors.Is(err, log.ErrKeyNotFound) {
			return 0, err
		}
		rev, err := state.Put(ctx, nodeIDsKey, []byte(worker))
		if err != nil {
			return 0, err
		}
		if rev > math.MaxInt32 {
			return 0, fmt.Errorf("bucket %s is past revision %d: set the node id explicitly", kafkaBucket, int64(math.MaxInt32))
		}
		_, err = state.Create(ctx, key, []byte(strconv.FormatUint(rev, 10)))
		if err == nil {
			return int32(rev), nil
		}
		if !errors.Is(err, log.ErrKeyExists) {
			return 0, err
		}
	}
	return 0, errors.New("node id: created concurrently and not readable")
}
