package parquetenc

import (
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Codecs are the column chunk compressions, by setting value.
var Codecs = []string{"snappy", "zstd", "none"}

// Codec returns the codec a compression setting names (snappy by default).
func Codec(name string) compress.Codec {
	switch name {
	case "zstd":
		return &zstd.Codec{Level: zstd.SpeedDefault}
	case "none":
		return &uncompressed.Codec{}
	}
	return &snappy.Codec{}
}
