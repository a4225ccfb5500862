//go:build !linux

package main

import "os"

// termios reports whether f is a character device, which is as close to
// "a terminal" as the standard library comes without the ioctl.
func termios(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
