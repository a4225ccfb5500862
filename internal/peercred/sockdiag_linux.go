package peercred

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Sizes of the structures of linux/inet_diag.h, which x/sys/unix does not
// define; they are encoded by hand below.
const (
	sizeofInetDiagSockID = 48 // struct inet_diag_sockid
	sizeofInetDiagReqV2  = 8 + sizeofInetDiagSockID
	sizeofInetDiagMsg    = 4 + sizeofInetDiagSockID + 20
	inetDiagNoCookie     = ^uint32(0) // INET_DIAG_NOCOOKIE
)

// sockDiag asks NETLINK_SOCK_DIAG for the one TCP socket with the exact
// 4-tuple. A request without NLM_F_DUMP makes the kernel look the socket
// up by hash (inet_diag_find_one_icsk) instead of walking every socket,
// so the cost does not grow with the number of connections on the host.
//
// That lookup falls back to a listening socket when no connection matches,
// as packet delivery does; the reply's own 4-tuple is therefore checked
// against the request, and only a connected socket is taken.
func sockDiag(client, server netip.AddrPort) (Cred, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return Cred{}, unavailable("peercred: sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	// The kernel answers within sendto; the timeout only bounds a kernel
	// that does not.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return Cred{}, unavailable("peercred: sock_diag timeout: %w", err)
	}

	family := uint8(unix.AF_INET6)
	if client.Addr().Is4() {
		// An AF_INET request also finds an AF_INET6 socket that speaks
		// IPv4 through a mapped address: both are in the IPv4 table.
		family = unix.AF_INET
	}
	const seq = 1
	req := make([]byte, unix.SizeofNlMsghdr+sizeofInetDiagReqV2)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], seq)
	r := req[unix.SizeofNlMsghdr:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // every state; the reply's is checked
	putSockID(r[8:], client, server)

	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Cred{}, unavailable("peercred: sock_diag request: %w", err)
	}
	buf := make([]byte, 4096)
	var n int
	for {
		n, _, err = unix.Recvfrom(fd, buf, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return Cred{}, unavailable("peercred: sock_diag reply: %w", err)
	}
	for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
		size := int(ne.Uint32(b[0:]))
		if size < unix.SizeofNlMsghdr || size > len(b) {
			break
		}
		typ, data := ne.Uint16(b[4:]), b[unix.SizeofNlMsghdr:size]
		if ne.Uint32(b[8:]) == seq {
			switch typ {
			case unix.NLMSG_ERROR:
				if len(data) < 4 {
					return Cred{}, unavailable("peercred: sock_diag: a short error message")
				}
				errno := unix.Errno(-int32(ne.Uint32(data)))
				if errno == unix.ENOENT {
					return Cred{}, &noOwnerError{client: client, server: server, absent: true}
				}
				return Cred{}, unavailable("peercred: sock_diag %v -> %v: %w", client, server, errno)
			case unix.SOCK_DIAG_BY_FAMILY:
				return diagOwner(client, server, data)
			}
		}
		b = b[min((size+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b)):]
	}
	return Cred{}, unavailable("peercred: sock_diag: no answer about %v -> %v", client, server)
}

// putSockID writes struct inet_diag_sockid for the socket whose local end
// is src and remote end dst. Ports and addresses are in network order; the
// interface is left 0 (any) and the cookie unset.
func putSockID(b []byte, src, dst netip.AddrPort) {
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	sa, da := src.Addr().AsSlice(), dst.Addr().AsSlice()
	copy(b[4:20], sa)
	copy(b[20:36], da)
	binary.NativeEndian.PutUint32(b[36:], 0)
	binary.NativeEndian.PutUint32(b[40:], inetDiagNoCookie)
	binary.NativeEndian.PutUint32(b[44:], inetDiagNoCookie)
}

// diagOwner reads struct inet_diag_msg and checks that it describes the
// socket asked for.
func diagOwner(client, server netip.AddrPort, b []byte) (Cred, error) {
	if len(b) < sizeofInetDiagMsg {
		return Cred{}, unavailable("peercred: sock_diag: a reply of %d bytes", len(b))
	}
	family, state := b[0], tcpState(b[1])
	id := b[4 : 4+sizeofInetDiagSockID]
	src, ok1 := diagAddrPort(family, id[4:20], id[0:2])
	dst, ok2 := diagAddrPort(family, id[20:36], id[2:4])
	if !ok1 || !ok2 {
		return Cred{}, unavailable("peercred: sock_diag: a reply of address family %d", family)
	}
	if src != client || dst != server {
		return Cred{}, &noOwnerError{client: client, server: server, detail: fmt.Sprintf("the nearest socket is %v -> %v, %v", src, dst, state)}
	}
	rest := b[4+sizeofInetDiagSockID:]
	uid := binary.NativeEndian.Uint32(rest[12:])
	inode := binary.NativeEndian.Uint32(rest[16:])
	return owner(client, server, state, uid, uint64(inode))
}

// diagAddrPort reads an address and a port of an inet_diag_sockid,
// unmapping an IPv4-mapped IPv6 address.
func diagAddrPort(family uint8, addr, port []byte) (netip.AddrPort, bool) {
	var a netip.Addr
	switch family {
	case unix.AF_INET:
		a = netip.AddrFrom4([4]byte(addr[:4]))
	case unix.AF_INET6:
		a = netip.AddrFrom16([16]byte(addr)).Unmap()
	default:
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(port)), true
}
