package peercred

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST of linux/netfilter_ipv6/ip6_tables.h,
// which x/sys does not define: SO_ORIGINAL_DST's number at level SOL_IPV6.
const ip6tSOOriginalDst = 80

func originalDst(c *net.TCPConn) (netip.AddrPort, bool, error) {
	local, ok := addrPort(c.LocalAddr())
	if !ok {
		return netip.AddrPort{}, false, fmt.Errorf("peercred: a TCP connection without a local address (%v)", c.LocalAddr())
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("peercred: %w", err)
	}
	var (
		dst  netip.AddrPort
		serr error
	)
	if err := raw.Control(func(fd uintptr) {
		dst, serr = getOriginalDst(int(fd), local.Addr().Is4())
	}); err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("peercred: %w", err)
	}
	switch {
	// ENOENT: conntrack has no entry for the connection (it is not
	// tracked); ENOPROTOOPT: conntrack is not loaded at all. Either way
	// nothing translated it.
	case errors.Is(serr, unix.ENOENT), errors.Is(serr, unix.ENOPROTOOPT):
		return local, false, nil
	case serr != nil:
		return netip.AddrPort{}, false, fmt.Errorf("peercred: the original destination of %v -> %v: %w", c.RemoteAddr(), c.LocalAddr(), serr)
	}
	return dst, dst != local, nil
}

// getOriginalDst asks conntrack for the destination of the connection's
// original direction. An IPv4 connection on an IPv6 socket (a mapped
// address) is asked at the IPv4 level, where the kernel keeps its
// addresses too.
func getOriginalDst(fd int, is4 bool) (netip.AddrPort, error) {
	if is4 {
		var sa unix.RawSockaddrInet4
		size := uint32(unsafe.Sizeof(sa))
		if err := getsockopt(fd, unix.SOL_IP, unix.SO_ORIGINAL_DST, unsafe.Pointer(&sa), &size); err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port)), nil
	}
	var sa unix.RawSockaddrInet6
	size := uint32(unsafe.Sizeof(sa))
	if err := getsockopt(fd, unix.SOL_IPV6, ip6tSOOriginalDst, unsafe.Pointer(&sa), &size); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port)), nil
}

// getsockopt is getsockopt(2) into a buffer of the caller's, which x/sys
// offers for no structure that fits a sockaddr.
func getsockopt(fd, level, opt int, val unsafe.Pointer, size *uint32) error {
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(val), uintptr(unsafe.Pointer(size)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// ntohs turns a port in network byte order, as a sockaddr holds it, into
// a number.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
