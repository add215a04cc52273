package sdk

import "net"

// LoopbackOnly reports whether a listen address (host:port) can be reached
// from this machine only: a loopback IP or localhost. Connectors that
// listen (tcp, udp) use it for the rule that a listener beyond loopback
// must authenticate its clients or say it does not; the REST API and the
// Kafka listener hold the same rule.
func LoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
