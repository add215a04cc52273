package remotefs

import (
	"context"
	"io"
	"time"
)

// Entry is one directory entry on the server.
type Entry struct {
	Path    string // slash-separated, as the server names it
	Size    int64
	ModTime time.Time
	Dir     bool
}

// FS is the little a source and a sink need of a remote file system. One FS
// is one connection and is used by one goroutine at a time; a connector
// opens one per concurrent download. Missing files are reported with an
// error that matches fs.ErrNotExist.
type FS interface {
	// List returns the entries of one directory (not recursive).
	List(ctx context.Context, dir string) ([]Entry, error)
	// Open streams the file from byte offset off; closing the reader
	// before its end abandons the transfer.
	Open(ctx context.Context, path string, off int64) (io.ReadCloser, error)
	// Upload writes everything r holds to path, replacing any file there.
	Upload(ctx context.Context, path string, r io.Reader) error
	// Rename moves from to to, replacing to when it exists.
	Rename(ctx context.Context, from, to string) error
	// Remove deletes a file.
	Remove(ctx context.Context, path string) error
	// MkdirAll creates dir and its parents when missing.
	MkdirAll(ctx context.Context, dir string) error
	// Close ends the connection.
	Close() error
}

// Dialer opens a new connection. Errors that retrying cannot fix (refused
// credentials, an untrusted host key) are marked sdk.Fatal.
type Dialer func(ctx context.Context) (FS, error)
