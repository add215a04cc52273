// Package wire reads and writes Confluent's schema-registry wire format: a
// zero magic byte, the schema id as 4 big-endian bytes, then the payload. For
// Protobuf the payload starts with the message indexes that locate the
// message type inside its .proto file: a zigzag varint count followed by that
// many zigzag varint indexes, with the single byte 0 standing for [0], the
// file's first message.
package wire
