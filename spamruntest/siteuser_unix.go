//go:build unix

package spamruntest

import (
	"context"
	"os/exec"
	"syscall"
)

// Command returns a command that runs program as u, as PHP-FPM runs a
// site's scripts: real, effective and saved UID and GID the site's, no
// supplementary groups and no capabilities already when program is
// executed, "/" as working directory, and an environment of PATH,
// LC_ALL=C and env.
//
// The child takes the site's credentials before it executes program, so
// the kernel checks the site's right to run it: setpriv would keep root's
// capabilities until its own execve, and start a program that only root
// and its group may run.
func (u SiteUser) Command(ctx context.Context, env []string, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{},
	}}
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}, env...)
	return cmd
}
