//go:build !linux

package peercred

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
)

// tcpFinder has no source outside Linux: SO_PEERCRED, sock_diag and
// /proc/net/tcp are Linux's.
type tcpFinder struct{}

var defaultTCP tcpFinder

func (tcpFinder) lookup(client, server netip.AddrPort) (Cred, error) {
	return Cred{}, fmt.Errorf("%w on %s: the owner of %v -> %v", ErrUnsupported, runtime.GOOS, client, server)
}

func fromUnix(c *net.UnixConn) (Cred, error) {
	return Cred{}, fmt.Errorf("%w on %s: the peer of %v", ErrUnsupported, runtime.GOOS, c.LocalAddr())
}

func originalDst(c *net.TCPConn) (netip.AddrPort, bool, error) {
	return netip.AddrPort{}, false, fmt.Errorf("%w on %s: the original destination of %v -> %v", ErrUnsupported, runtime.GOOS, c.RemoteAddr(), c.LocalAddr())
}
