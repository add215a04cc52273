package logbench

import (
	"os"
	"runtime/pprof"
)

func init() {
	if path := os.Getenv("LOGBENCH_CPUPROF"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			beforePhase = func(string) { _ = pprof.StartCPUProfile(f) }
			afterPhase = func(string) { pprof.StopCPUProfile(); f.Close() }
		}
	}
	if path := os.Getenv("LOGBENCH_HEAPPROF"); path != "" {
		afterPhase = func(string) {
			f, err := os.Create(path)
			if err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
