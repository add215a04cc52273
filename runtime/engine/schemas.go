package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/schema/registry"
)

// BucketSchemas holds the schema registry: shared by every worker of a cluster.
const BucketSchemas = "braid-schemas"

// kvStore adapts a log KV bucket to the registry's Store.
type kvStore struct{ kv *log.KV }

func (s kvStore) Get(ctx context.Context, key string) (registry.Entry, error) {
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return registry.Entry{}, storeErr(err)
	}
	return registry.Entry{Key: e.Key, Value: e.Value, Revision: e.Revision}, nil
}

func (s kvStore) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := s.kv.Put(ctx, key, value)
	return rev, storeErr(err)
}

func (s kvStore) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := s.kv.Create(ctx, key, value)
	return rev, storeErr(err)
}

func (s kvStore) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := s.kv.Update(ctx, key, value, rev)
	return n, storeErr(err)
}

func (s kvStore) Delete(ctx context.Context, key string) error {
	err := s.kv.Delete(ctx, key)
	if errors.Is(err, log.ErrKeyNotFound) {
		return nil
	}
	return storeErr(err)
}

func (s kvStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	keys, err := s.kv.Keys(ctx, prefix)
	return keys, storeErr(err)
}

// storeErr translates the log's KV errors into the registry's.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, log.ErrKeyNotFound):
		return fmt.Errorf("%w: %v", registry.ErrKeyNotFound, err)
	case errors.Is(err, log.ErrKeyExists):
		return fmt.Errorf("%w: %v", registry.ErrKeyExists, err)
	case errors.Is(err, log.ErrWrongRevision):
		return fmt.Errorf("%w: %v", registry.ErrWrongRevision, err)
	}
	return err
}

// openRegistry opens the schema registry over its KV bucket.
func openRegistry(ctx context.Context, lg *log.Log, opts Options) (*registry.Registry, error) {
	kv, err := lg.KV(ctx, BucketSchemas)
	if err != nil {
		return nil, fmt.Errorf("schema registry bucket: %w", err)
	}
	return registry.New(kvStore{kv: kv}, opts.Logger), nil
}
