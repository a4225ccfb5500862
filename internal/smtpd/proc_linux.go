package smtpd

import (
	"os"
	"strconv"
)

// processOf returns a process that holds the socket with the given inode,
// or 0: the process whose working directory and command line are the
// evidence of what sent a message. Reading other users' descriptors takes
// CAP_SYS_PTRACE; without it only the UID, the door and the destination
// are evidence.
func processOf(inode uint64) int {
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd/"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(dir + fd.Name()); err == nil && link == want {
				return pid
			}
		}
	}
	return 0
}

// Socket options of netfilter's NAT: the destination a connection had
// before a redirect changed it.
