//go:build !unix

package safeexec

import "os/exec"

// killGroupOnCancel keeps exec's default of killing the process alone:
// there are no process groups to kill here.
func killGroupOnCancel(*exec.Cmd) {}
