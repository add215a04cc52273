package logbench

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
)

// payloads makes JSON-like values (not safe for concurrent use: fork it) of a fixed size: repeated field names,
// varying numbers and a random-letter note, so compression finds what it
// would find in real event data and no more.
type payloads struct {
	size  int
	arena []byte
	rng   *rand.Rand
	notes []byte // random letters; each value copies a window at a random offset
}

var statuses = []string{"new", "paid", "shipped", "cancelled"}

func newPayloads(size int) *payloads {
	g := &payloads{size: size, rng: rand.New(rand.NewPCG(1, 2))}
	g.notes = make([]byte, 1<<20+size)
	for i := range g.notes {
		g.notes[i] = byte('a' + g.rng.IntN(26))
	}
	return g
}

// fork returns a generator of the same values' shape for another goroutine,
// sharing the read-only notes.
func (g *payloads) fork(seed uint64) *payloads {
	return &payloads{size: g.size, rng: rand.New(rand.NewPCG(seed+3, 4)), notes: g.notes}
}

// next returns the value of record i; values stay valid until the GC frees
// them (they are carved from 1 MiB arenas).
func (g *payloads) next(i int) []byte {
	if len(g.arena) < g.size {
		g.arena = make([]byte, max(1<<20, g.size))
	}
	v := g.arena[:0:g.size]
	g.arena = g.arena[g.size:]
	v = append(v, `{"id":`...)
	v = strconv.AppendInt(v, int64(i), 10)
	v = append(v, `,"user":"user-`...)
	r := g.rng.Uint64()
	v = strconv.AppendInt(v, int64(r%100000), 10)
	v = append(v, `","amount":`...)
	v = strconv.AppendInt(v, int64(r>>20%1000000), 10)
	v = append(v, `,"status":"`...)
	v = append(v, statuses[i%len(statuses)]...)
	v = append(v, `","note":"`...)
	if pad := g.size - 2 - len(v); pad > 0 {
		off := int(r>>40) % (len(g.notes) - pad)
		v = append(v, g.notes[off:off+pad]...)
	}
	v = append(v, `"}`...)
	return v[:g.size]
}

// resetPeakRSS resets VmHWM (Linux ≥ 4.0); false when it cannot.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSMiB reads VmHWM from /proc/self/status.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseFloat(string(f[0]), 64)
				return kb / 1024
			}
		}
	}
	return 0
}
