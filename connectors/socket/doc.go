// Package socket holds the tcp and udp sources: listeners that cut a byte
// stream or datagrams into records — lines, length-prefixed frames, or
// syslog messages (RFC 5424 and RFC 3164, octet-counted or newline framed)
// parsed into fields by github.com/leodido/go-syslog/v4.
//
// Both hand records to the worker through one buffer bounded in bytes: a
// record holds its share from the moment it is read off the socket until
// the log acknowledges it. The TCP source's connection readers wait when
// the buffer is full, so they stop reading and TCP flow control pushes back
// on the senders; the UDP source cannot push back, so it drops and counts.
// Neither can replay, so delivery is at most once (docs/connectors/socket.md).
package socket
