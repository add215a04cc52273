package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// MagicByte opens every framed message.
const MagicByte = 0

// HeaderSize is the size of the magic byte and the schema id.
const HeaderSize = 5

// Errors matched with errors.Is.
var (
	ErrTooShort       = errors.New("wire: message shorter than the 5-byte schema header")
	ErrMagic          = errors.New("wire: unknown magic byte (not schema-registry framed data)")
	ErrMessageIndexes = errors.New("wire: malformed protobuf message indexes")
)

// AppendHeader appends the magic byte and schema id to dst.
func AppendHeader(dst []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, MagicByte), uint32(id))
}

// Parse splits framed data into its schema id and payload. The payload
// aliases data.
func Parse(data []byte) (id int, payload []byte, err error) {
	if len(data) < HeaderSize {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrTooShort, len(data))
	}
	if data[0] != MagicByte {
		return 0, nil, fmt.Errorf("%w: 0x%02x", ErrMagic, data[0])
	}
	return int(binary.BigEndian.Uint32(data[1:HeaderSize])), data[HeaderSize:], nil
}

// AppendMessageIndexes appends Protobuf message indexes; [0] (the first
// message in the file) is written as the single byte 0, as Confluent does.
func AppendMessageIndexes(dst []byte, indexes []int) []byte {
	if len(indexes) == 0 || (len(indexes) == 1 && indexes[0] == 0) {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, i := range indexes {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

// ParseMessageIndexes reads Protobuf message indexes from the start of a
// payload and returns them with the rest of the payload.
func ParseMessageIndexes(data []byte) (indexes []int, rest []byte, err error) {
	n, size := binary.Varint(data)
	if size <= 0 {
		return nil, nil, fmt.Errorf("%w: bad count", ErrMessageIndexes)
	}
	data = data[size:]
	if n == 0 {
		return []int{0}, data, nil
	}
	// Each index takes at least a byte, which bounds the allocation.
	if n < 0 || n > int64(len(data)) {
		return nil, nil, fmt.Errorf("%w: count %d with %d bytes left", ErrMessageIndexes, n, len(data))
	}
	indexes = make([]int, n)
	for i := range indexes {
		v, size := binary.Varint(data)
		if size <= 0 || v < 0 || v > math.MaxInt32 {
			return nil, nil, fmt.Errorf("%w: index %d", ErrMessageIndexes, i)
		}
		indexes[i] = int(v)
		data = data[size:]
	}
	return indexes, data, nil
}
