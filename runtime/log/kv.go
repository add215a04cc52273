package log

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KV is a key-value bucket for Braid's state. Any non-empty string is a valid
// key: characters NATS KV does not allow are escaped on the way in and
// unescaped on the way out.
type KV struct {
	kv     jetstream.KeyValue
	bucket string
	l      *Log
}

// Entry is one KV value.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Deleted  bool
}

// ValidateBucketName accepts 1–64 letters, digits, '_' and '-'.
func ValidateBucketName(bucket string) error {
	if bucket == "" || len(bucket) > 64 {
		return fmt.Errorf("kv bucket %q: name must be 1 to 64 characters", bucket)
	}
	for _, c := range bucket {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("kv bucket %q: character %q not allowed; use letters, digits, '_' and '-'", bucket, c)
		}
	}
	return nil
}

// lazyKV is a bucket the log opens on first use and keeps.
type lazyKV struct {
	mu sync.Mutex
	kv *KV
}

func (z *lazyKV) open(ctx context.Context, l *Log, bucket string) (*KV, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.kv != nil {
		return z.kv, nil
	}
	kv, err := l.KV(ctx, bucket)
	if err != nil {
		return nil, err
	}
	z.kv = kv
	return kv, nil
}

// KV opens (creating when missing) a bucket.
func (l *Log) KV(ctx context.Context, bucket string) (*KV, error) {
	return l.openKV(ctx, bucket, 0)
}

// KVWithTTL opens (creating when missing) a bucket whose entries expire ttl
// after their last write: leases and heartbeats.
func (l *Log) KVWithTTL(ctx context.Context, bucket string, ttl time.Duration) (*KV, error) {
	return l.openKV(ctx, bucket, ttl)
}

func (l *Log) openKV(ctx context.Context, bucket string, ttl time.Duration) (*KV, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return nil, err
	}
	kv, err := l.js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = l.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, History: 1, Storage: jetstream.FileStorage, Replicas: l.opts.Replicas, TTL: ttl,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = l.js.KeyValue(ctx, bucket) // created concurrently
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kv bucket %q: %w", bucket, err)
	}
	if err := l.raiseReplicas(ctx, "KV_"+bucket); err != nil {
		return nil, fmt.Errorf("kv bucket %q: %w", bucket, err)
	}
	return &KV{kv: kv, bucket: bucket, l: l}, nil
}

const hexDigits = "0123456789ABCDEF"

// EscapeKey maps any string to a valid NATS KV key: letters, digits, '_',
// '-' and '/' stay; every other byte becomes =XX. The mapping keeps string
// prefixes and contains no '.', so an escaped key is one subject token.
func EscapeKey(key string) string {
	var sb strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/' {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('=')
		sb.WriteByte(hexDigits[c>>4])
		sb.WriteByte(hexDigits[c&15])
	}
	return sb.String()
}

// UnescapeKey reverses EscapeKey.
func UnescapeKey(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			sb.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escaped key %q", s)
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("bad escaped key %q", s)
		}
		sb.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return sb.String(), nil
}

func (kv *KV) esc(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("kv bucket %q: empty key", kv.bucket)
	}
	return EscapeKey(key), nil
}

func (kv *KV) wrap(op, key string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		err = ErrKeyNotFound
	case errors.Is(err, jetstream.ErrKeyExists):
		err = ErrKeyExists
	case apiCode(err) == jetstream.JSErrCodeStreamWrongLastSequence,
		apiCode(err) == jetstream.JSErrCodeStreamWrongLastSequenceConstant:
		err = ErrWrongRevision
	}
	return fmt.Errorf("kv %s %s/%q: %w", op, kv.bucket, key, err)
}

// Get returns a key; ErrKeyNotFound when absent. It reads from the bucket's
// stream leader: nats.go's Get may be answered by a replica that has not
// applied the latest write yet, and a task resuming from a stale position or
// offset would repeat work, or a lease holder misjudge its revision.
func (kv *KV) Get(ctx context.Context, key string) (Entry, error) {
	k, err := kv.esc(key)
	if err != nil {
		return Entry{}, err
	}
	return kv.getRaw(ctx, k, key)
}

// getRaw reads the bucket key k (already escaped) from the leader; key names
// it in errors and in the entry.
func (kv *KV) getRaw(ctx context.Context, k, key string) (Entry, error) {
	m, err := kv.l.getFromLeader(ctx, "KV_"+kv.bucket, map[string]any{"last_by_subj": "$KV." + kv.bucket + "." + k})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		err = jetstream.ErrKeyNotFound
	}
	if err != nil {
		return Entry{}, kv.wrap("get", key, err)
	}
	if op := m.hdr.Get(kvOperationHeader); op == "DEL" || op == "PURGE" {
		return Entry{}, kv.wrap("get", key, jetstream.ErrKeyDeleted)
	}
	return Entry{Key: key, Value: m.data, Revision: m.seq}, nil
}

// kvOperationHeader marks a KV delete or purge.
const kvOperationHeader = "KV-Operation"

// Put sets a key and returns its revision.
func (kv *KV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	k, err := kv.esc(key)
	if err != nil {
		return 0, err
	}
	rev, err := kv.kv.Put(ctx, k, value)
	if err != nil {
		return 0, kv.wrap("put", key, err)
	}
	return rev, nil
}

// Create sets a key only when absent; ErrKeyExists otherwise.
func (kv *KV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	k, err := kv.esc(key)
	if err != nil {
		return 0, err
	}
	rev, err := kv.kv.Create(ctx, k, value)
	if err != nil {
		return 0, kv.wrap("create", key, err)
	}
	return rev, nil
}

// Update sets a key only at the given revision; ErrWrongRevision otherwise.
func (kv *KV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	k, err := kv.esc(key)
	if err != nil {
		return 0, err
	}
	nrev, err := kv.kv.Update(ctx, k, value, rev)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// nats.go reports a revision mismatch as "key exists".
		return 0, fmt.Errorf("kv update %s/%q at revision %d: %w", kv.bucket, key, rev, ErrWrongRevision)
	}
	if err != nil {
		return 0, kv.wrap("update", key, err)
	}
	return nrev, nil
}

// Delete removes a key.
func (kv *KV) Delete(ctx context.Context, key string) error {
	k, err := kv.esc(key)
	if err != nil {
		return err
	}
	if err := kv.kv.Delete(ctx, k); err != nil {
		return kv.wrap("delete", key, err)
	}
	return nil
}

// Keys lists keys with the prefix, in bucket order.
func (kv *KV) Keys(ctx context.Context, prefix string) ([]string, error) {
	return kv.keys(ctx, ">", prefix)
}

func (kv *KV) keys(ctx context.Context, filter, prefix string) ([]string, error) {
	raw, err := kv.rawKeys(ctx, filter, EscapeKey(prefix))
	if err != nil {
		return nil, kv.wrap("keys", prefix, err)
	}
	out := raw[:0]
	for _, k := range raw {
		u, err := UnescapeKey(k)
		if err != nil {
			continue // a key written by something other than Braid
		}
		out = append(out, u)
	}
	return out, nil
}

// rawKeys lists the stored (escaped) live keys matching filter that start
// with rawPrefix.
func (kv *KV) rawKeys(ctx context.Context, filter, rawPrefix string) ([]string, error) {
	// A listing is an ephemeral consumer, which the server may place on a
	// replica that is behind the bucket's leader: it would miss a key just
	// written. The leader's last sequence says what the listing must reach.
	st, err := kv.kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	var last uint64
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo().State.Msgs > 0 {
		last = bs.StreamInfo().State.LastSeq
	}
	for attempt := 0; ; attempt++ {
		out, seen, err := kv.listKeys(ctx, filter, rawPrefix)
		if err != nil {
			return nil, err
		}
		// A newest entry that expired (TTL buckets) is never seen: after a
		// few tries the listing stands.
		if seen >= last || attempt >= 10 {
			return out, nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// listKeys lists the live stored keys matching filter that start with
// rawPrefix, and the highest bucket sequence the listing saw (deletes
// included).
func (kv *KV) listKeys(ctx context.Context, filter, rawPrefix string) ([]string, uint64, error) {
	w, err := kv.kv.WatchFiltered(ctx, []string{filter}, jetstream.MetaOnly())
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = w.Stop() }()
	var out []string
	var seen uint64
	for e := range w.Updates() {
		if e == nil {
			break // the initial values are all delivered
		}
		seen = max(seen, e.Revision())
		if e.Operation() != jetstream.KeyValuePut || !strings.HasPrefix(e.Key(), rawPrefix) {
			continue
		}
		out = append(out, e.Key())
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return out, seen, nil
}

// Watch streams changes to keys with the prefix (current values first) until
// ctx ends; then the channel closes. Buckets keep one revision per key, so a
// watcher that falls behind sees each key's latest value rather than every
// revision; it never misses the latest value or a delete.
func (kv *KV) Watch(ctx context.Context, prefix string) (<-chan Entry, error) {
	return kv.watch(ctx, prefix)
}

// WatchUpdates streams changes to keys with the prefix made from now on,
// without the current values.
func (kv *KV) WatchUpdates(ctx context.Context, prefix string) (<-chan Entry, error) {
	return kv.watch(ctx, prefix, jetstream.UpdatesOnly())
}

func (kv *KV) watch(ctx context.Context, prefix string, opts ...jetstream.WatchOpt) (<-chan Entry, error) {
	w, err := kv.kv.WatchAll(ctx, opts...)
	if err != nil {
		return nil, kv.wrap("watch", prefix, err)
	}
	esc := EscapeKey(prefix)
	out := make(chan Entry, 64)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil || !strings.HasPrefix(e.Key(), esc) {
					continue // nil marks the end of current values
				}
				key, err := UnescapeKey(e.Key())
				if err != nil {
					continue
				}
				ent := Entry{Key: key, Value: e.Value(), Revision: e.Revision(),
					Deleted: e.Operation() != jetstream.KeyValuePut}
				select {
				case out <- ent:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// raiseReplicas brings a state bucket made with fewer replicas (by an older
// Braid, or before the cluster grew) up to the log's count, so losing one
// node never stops every task.
func (l *Log) raiseReplicas(ctx context.Context, stream string) error {
	s, err := l.js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	if cfg.Replicas >= l.opts.Replicas {
		return nil
	}
	cfg.Replicas = l.opts.Replicas
	if _, err := l.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("raise replicas to %d: %w", l.opts.Replicas, err)
	}
	l.log.Info("state bucket replicas raised", "stream", stream, "replicas", l.opts.Replicas)
	return nil
}
