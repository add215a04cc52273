//go:build !linux

package plugin

import (
	"os/exec"
	"syscall"
)

// isolate puts the plugin in its own process group; without Pdeathsig the
// plugin notices the worker is gone when its standard input closes.
func isolate(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
