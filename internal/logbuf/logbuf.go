// Package logbuf is a log sink tests share between goroutines.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes from many goroutines (slog handlers, servers).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
