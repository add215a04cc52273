package registry

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
)

// Store is the key-value state the registry keeps. Its method set mirrors a
// subset of runtime/log.KV; the runtime adapts one to the other, translating
// its errors to ErrKeyNotFound, ErrKeyExists and ErrWrongRevision.
type Store interface {
	// Get returns a key's value and revision; ErrKeyNotFound when absent.
	Get(ctx context.Context, key string) (Entry, error)
	// Put sets a key unconditionally.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Create sets a key only when absent; ErrKeyExists otherwise.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update sets a key only at revision rev; ErrWrongRevision otherwise.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Delete removes a key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Keys lists the keys starting with prefix.
	Keys(ctx context.Context, prefix string) ([]string, error)
}

// Entry is one stored value.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
}

// Store errors, matched with errors.Is.
var (
	ErrKeyNotFound   = errors.New("key not found")
	ErrKeyExists     = errors.New("key exists")
	ErrWrongRevision = errors.New("wrong revision")
)

// MemStore is an in-memory Store for the CLI, benchmarks and single-process
// use. It loses everything on exit; production uses a JetStream KV bucket.
type MemStore struct {
	mu   sync.Mutex
	rev  uint64
	data map[string]Entry
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{data: map[string]Entry{}} }

// Get implements Store.
func (m *MemStore) Get(ctx context.Context, key string) (Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.data[key]
	if !ok {
		return Entry{}, ErrKeyNotFound
	}
	e.Value = append([]byte(nil), e.Value...)
	return e, nil
}

func (m *MemStore) set(key string, value []byte) uint64 {
	m.rev++
	m.data[key] = Entry{Key: key, Value: append([]byte(nil), value...), Revision: m.rev}
	return m.rev
}

// Put implements Store.
func (m *MemStore) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set(key, value), nil
}

// Create implements Store.
func (m *MemStore) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[key]; ok {
		return 0, ErrKeyExists
	}
	return m.set(key, value), nil
}

// Update implements Store.
func (m *MemStore) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.data[key]; !ok || e.Revision != rev {
		return 0, ErrWrongRevision
	}
	return m.set(key, value), nil
}

// Delete implements Store.
func (m *MemStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	return nil
}

// Keys implements Store.
func (m *MemStore) Keys(ctx context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}
