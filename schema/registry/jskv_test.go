package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/runtime/natsd"
	"github.com/nats-io/nats.go/jetstream"
)

// jsStore adapts a JetStream KeyValue bucket to Store, the way the runtime
// adapts runtime/log.KV.
type jsStore struct{ kv jetstream.KeyValue }

func (s jsStore) Get(ctx context.Context, key string) (Entry, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, ErrKeyNotFound
	}
	if err != nil {
		return Entry{}, err
	}
	return Entry{Key: key, Value: e.Value(), Revision: e.Revision()}, nil
}

func (s jsStore) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return s.kv.Put(ctx, key, value)
}

func (s jsStore) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := s.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrKeyExists
	}
	return rev, err
}

func (s jsStore) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := s.kv.Update(ctx, key, value, rev)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, ErrWrongRevision
	}
	return n, err
}

func (s jsStore) Delete(ctx context.Context, key string) error {
	err := s.kv.Delete(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

func (s jsStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range lister.Keys() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out, nil
}

// startJS starts an in-process NATS server on dir and opens the bucket.
func startJS(t *testing.T, dir string) (*natsd.Conn, Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	js, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "schemas", History: 1})
	if err != nil {
		t.Fatalf("kv bucket: %v", err)
	}
	return conn, jsStore{kv: kv}
}

// newJSRegistry returns a registry over a fresh JetStream KV bucket.
func newJSRegistry(t *testing.T) *Registry {
	t.Helper()
	conn, store := startJS(t, t.TempDir())
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return New(store, nil)
}
