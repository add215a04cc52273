package plugin

import (
	"os/exec"
	"syscall"
)

// isolate puts the plugin in its own process group (killed as a whole) and
// has the kernel kill it when the worker dies, even by SIGKILL. Pdeathsig
// follows the thread that started the process; Go may retire that thread,
// so the plugin also exits when its standard input closes.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
