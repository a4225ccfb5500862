//go:build linux

package submit

import (
	"io/fs"
	"syscall"
	"time"
)

// statOwner returns a file's ctime and owner.
func statOwner(fi fs.FileInfo) (time.Time, int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, -1
	}
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec).UTC(), int(st.Uid)
}
