package logbench

import (
	"os"
	"runtime/pprof"
)

func init() {
	if path := os.Getenv("LOGBENCH_CPUPROF"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			want := os.Getenv("LOGBENCH_PHASE") // produce or consume
			beforePhase = func(p string) {
				if p == want {
					_ = pprof.StartCPUProfile(f)
				}
			}
			afterPhase = func(p string) {
				if p == want {
					pprof.StopCPUProfile()
					f.Close()
				}
			}
		}
	}
	if path := os.Getenv("LOGBENCH_HEAPPROF"); path != "" {
		afterPhase = func(p string) {
			if p != os.Getenv("LOGBENCH_PHASE") {
				return
			}
			f, err := os.Create(path)
			if err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
