package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/braidhq/braid/pipelines"
)

// Memory budget of `braid run --memory`: the process's resident memory is
// Go's (heap, stacks, runtime) plus the pages of the binary's code and
// read-only data the kernel maps in as they are used (45–50 MiB of
// Braid's by the time a pipeline runs; file-backed, shared and reclaimable,
// but counted in RSS). The Go part gets a soft limit (GOMEMLIMIT), and the
// data path's buffers are bounded on their own: 8 MiB of reads waiting per
// source task, 4 MiB in flight per partition reader, 4 MiB buffered per
// sink task before a flush, and JetStream's block cache (8 MiB blocks,
// about two in memory per busy stream).
const (
	codeReserve = 56 << 20
	minMemory   = 96 << 20
)

// defaultMemory is the budget without --memory or BRAID_MEMORY: like a JVM
// worker's -Xmx, a bound that ordinary pipelines stay far below (the 1 M
// line file → topic → file run peaks at about 150 MiB).
const defaultMemory = "1GiB"

// applyMemory sets the Go memory limit from a --memory value ("none" leaves
// Go's default: no limit). GOMEMLIMIT in the environment wins.
func applyMemory(value string, logger *slog.Logger) error {
	if value == "none" {
		return nil
	}
	n, err := pipelines.ParseSize(value)
	if err != nil {
		return fmt.Errorf("--memory: %w", err)
	}
	if n < minMemory {
		return fmt.Errorf("--memory %s: the least budget is 96MiB (the binary's mapped code alone takes about %d MiB)", value, codeReserve>>20)
	}
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		logger.Warn("GOMEMLIMIT is set: it wins over --memory", "GOMEMLIMIT", env, "memory", value)
		return nil
	}
	limit := n - codeReserve
	debug.SetMemoryLimit(limit)
	logger.Info("memory budget", "memory", value, "go_memory_limit_mib", limit>>20)
	return nil
}
