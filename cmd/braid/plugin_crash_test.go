package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashSafetyPlugin is the crash test with the file source and sink run
// as plugins (this binary's serve-plugin): SIGKILLs of the worker lose and
// repeat nothing; in one run the source's and sink's plugin processes are
// killed, and their tasks restart with backoff and go on. No plugin process
// outlives its worker.
func TestCrashSafetyPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the binary for about a minute; skipped with -short")
	}
	bin := buildBraid(t)
	pdir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nexec %q serve-plugin source/file sink/file\n", bin)
	if err := os.WriteFile(filepath.Join(pdir, "files"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The kills spread over the first half of the lines, so the run that
	// kills the plugin processes still has a source reading.
	crashSafety(t, bin, "plugin-file", "plugin-file", 0.5, []string{"--plugin-dir", pdir}, func(args []string, out string) {
		// A run in which the tasks' plugin processes are killed once the
		// copy is under way: the tasks restart and the copy goes on.
		run := exec.Command(bin, args...)
		run.Stderr = os.Stderr
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = run.Process.Kill(); _ = run.Wait() }()
		progress := func(after int, within time.Duration) int {
			deadline := time.Now().Add(within)
			for {
				n := len(readSinkLines(t, out))
				if n > after || n == crashLines {
					return n
				}
				if time.Now().After(deadline) {
					t.Fatalf("the sink stayed at %d lines for %s", n, within)
				}
				time.Sleep(20 * time.Millisecond) // polling for progress
			}
		}
		n := progress(len(readSinkLines(t, out)), 30*time.Second)
		// The source's and a sink's plugin processes, once both run: a
		// task may be between a failed start and its restart (the log
		// already holds records for the sink), its process not yet spawned.
		var plugins []int
		deadline := time.Now().Add(20 * time.Second)
		for {
			plugins = plugins[:0]
			for _, pid := range children(run.Process.Pid) {
				if strings.HasPrefix(cmdline(pid), bin+" serve-plugin") {
					plugins = append(plugins, pid)
				}
			}
			if len(plugins) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d plugin processes run beside the worker after 20s (%v), want the source's and a sink's", len(plugins), plugins)
			}
			time.Sleep(20 * time.Millisecond) // polling for the processes
		}
		killed := 0
		for _, pid := range plugins {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		if killed < 2 {
			t.Fatalf("killed %d plugin processes, want at least the source's and a sink's", killed)
		}
		if n < crashLines {
			m := progress(n, 30*time.Second)
			t.Logf("killed %d plugin processes at %d lines; the restarted tasks went on to %d", killed, n, m)
		}
	})
	// The killed workers' plugins are gone too.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := pluginProcesses(bin)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes left after their workers ended: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// children lists the live processes whose parent is pid.
func children(pid int) []int {
	var out []int
	for _, p := range processes() {
		if state, ppid := procStat(p); ppid == pid && state != "Z" {
			out = append(out, p)
		}
	}
	return out
}

// pluginProcesses lists live processes running bin serve-plugin.
func pluginProcesses(bin string) []int {
	var out []int
	for _, p := range processes() {
		if state, _ := procStat(p); state != "Z" && state != "" && strings.HasPrefix(cmdline(p), bin+" serve-plugin") {
			out = append(out, p)
		}
	}
	return out
}

func processes() []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// procStat returns a process's state letter and parent ("", 0 when gone).
func procStat(pid int) (string, int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 2 {
		return "", 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return f[0], ppid
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}
