//go:build race

package parquetbench

func init() { raceEnabled = true }
