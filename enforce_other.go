//go:build !unix

package spamrun

import "os/exec"

// killGroupOnCancel leaves exec's default, killing the process alone: there
// are no process groups to kill here.
func killGroupOnCancel(*exec.Cmd) {}
