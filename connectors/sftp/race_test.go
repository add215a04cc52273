//go:build race

package sftp

// The race detector slows the in-process SFTP server several times over.
const raceEnabled = true
