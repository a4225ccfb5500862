package main

import (
	"os"
	"syscall"
	"unsafe"
)

// termios reports whether f is a terminal: whether it has terminal
// attributes, which /dev/null, a pipe or a file have not.
func termios(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
