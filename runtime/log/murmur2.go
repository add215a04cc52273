package log

import "encoding/binary"

// Murmur2 is the 32-bit murmur2 hash exactly as Kafka's Java client computes
// it (org.apache.kafka.common.utils.Utils.murmur2), returned as the same
// signed value.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KeyPartition is Kafka's default partitioner for keyed records:
// toPositive(murmur2(key)) % partitions.
func KeyPartition(key []byte, partitions int) int32 {
	return int32((uint32(Murmur2(key)) & 0x7fffffff) % uint32(partitions))
}
