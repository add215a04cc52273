// Package tcpbench measures syslog lines per second through the tcp source
// beside a raw socket reader in the same run: concurrent clients send RFC
// 5424 lines as fast as they can, the source parses and hands them over,
// and the ratio to the raw reader (which only counts newlines) is what
// the source costs. `braid bench tcp` runs it into a real log.
package tcpbench
