package smtpd

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"
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
// SO_ORIGINAL_DST at level SOL_IP and IP6T_SO_ORIGINAL_DST at SOL_IPV6
// share the number.
const (
	soOriginalDst     = 80
	sizeofSockaddrIn6 = 28
	sizeofSockaddrIn4 = 16
)

// originalDst returns where a connection was going before a redirect
// brought it here, and whether it was redirected at all.
func originalDst(c *net.TCPConn) (netip.AddrPort, bool, error) {
	local, _ := c.LocalAddr().(*net.TCPAddr)
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, false, err
	}
	var (
		buf    [sizeofSockaddrIn6]byte
		optErr error
	)
	is4 := local != nil && local.IP.To4() != nil
	ctl := raw.Control(func(fd uintptr) {
		level, size := syscall.SOL_IPV6, uint32(sizeofSockaddrIn6)
		if is4 {
			level, size = syscall.SOL_IP, sizeofSockaddrIn4
		}
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, uintptr(level), soOriginalDst,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		if e != 0 {
			optErr = e
		}
	})
	if ctl != nil {
		return netip.AddrPort{}, false, ctl
	}
	if optErr != nil {
		// ENOENT: no NAT entry, the connection came here directly.
		if optErr == syscall.ENOENT {
			return netip.AddrPort{}, false, nil
		}
		return netip.AddrPort{}, false, optErr
	}
	port := uint16(buf[2])<<8 | uint16(buf[3])
	var addr netip.Addr
	if is4 {
		addr = netip.AddrFrom4([4]byte(buf[4:8]))
	} else {
		addr = netip.AddrFrom16([16]byte(buf[8:24])).Unmap()
	}
	dst := netip.AddrPortFrom(addr, port)
	if local != nil {
		l := local.AddrPort()
		if netip.AddrPortFrom(l.Addr().Unmap(), l.Port()) == dst {
			return dst, false, nil
		}
	}
	return dst, true, nil
}
