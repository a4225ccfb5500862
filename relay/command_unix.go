//go:build unix

package relay

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// killGroupOnCancel puts cmd in a process group of its own and makes a
// timeout or cancellation kill the whole group: an MTA's sendmail hands
// the message to helpers (Postfix's postdrop), which must not live on and
// finish a delivery that was reported as failed.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
