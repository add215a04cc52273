// Package sftp holds the sftp source and sink: the remote file source and
// sink of connectors/internal/remotefs over SFTP (github.com/pkg/sftp on
// golang.org/x/crypto/ssh). The server's host key is always checked,
// against a known_hosts file or a pinned key; an unknown key is refused
// with an error that prints its fingerprint.
package sftp
