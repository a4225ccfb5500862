// Package peercred tells which local user owns the other end of a
// connection, from the kernel alone: never from anything the client writes,
// which a website could forge.
//
// A listener that takes mail from the websites of a host identifies a site
// by the UID that owns the client's socket, as the sendmail binary does by
// its real UID. On a Unix socket the kernel records the peer's credentials
// at connect(2) and hands them out as SO_PEERCRED. A TCP connection carries
// no credentials, but on loopback (or to another address of the host) both
// of its sockets live in the same kernel: the client's socket is the one
// whose local end is the connection's remote address and whose remote end
// is the connection's local address, and the kernel knows who created it.
// peercred asks NETLINK_SOCK_DIAG for exactly that 4-tuple (one hash
// lookup, as ss(8) does) and falls back to reading /proc/net/tcp and
// /proc/net/tcp6 when netlink is unavailable; both match on both endpoints,
// never on a port alone.
//
// The UID is the one the kernel stored when the socket was created or
// connected; passing the descriptor to another process does not change it.
// It is only available on Linux; elsewhere every lookup fails with
// [ErrUnsupported].
package peercred

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Cred is what the kernel says about the process at the other end of a
// connection.
type Cred struct {
	// UID owns the peer's socket: the site, for a listener that serves
	// websites. On a Unix socket it is the client's effective UID when it
	// called connect(2); on TCP, the file-system UID (the effective one,
	// unless changed with setfsuid) of the process that created the
	// socket. A site that runs another user's setuid program is that user
	// to the program's sockets, as to its files.
	UID int
	// GID and PID come with SO_PEERCRED on a Unix socket: the group and
	// process of the client when it called connect(2). The kernel does not
	// record them for a TCP socket, where they are -1 and 0.
	GID int
	PID int
	// Inode is the peer socket's inode number for TCP (0 on a Unix socket):
	// a process that holds the socket has a /proc/PID/fd entry that reads
	// "socket:[Inode]", which leads to the client process, its working
	// directory and command line.
	Inode uint64
}

var (
	// ErrClosed reports that no process owns the peer's socket any more:
	// the client closed it (it may linger in TIME_WAIT or FIN_WAIT2, owned
	// by no one) or it is gone altogether. Its owner can no longer be told,
	// and the connection should be refused.
	ErrClosed = errors.New("peercred: the peer's socket is closed")

	// ErrNotLocal reports a TCP peer that is neither a loopback address nor
	// an address of this host: its owner is on another machine.
	ErrNotLocal = errors.New("peercred: the peer is not on this host")

	// ErrUnsupported reports a connection type or an operating system the
	// package cannot read credentials for.
	ErrUnsupported = errors.New("peercred: unsupported")
)

// noOwnerError reports a TCP connection whose client socket no process
// owns; it matches ErrClosed.
type noOwnerError struct {
	client, server netip.AddrPort
	absent         bool   // no socket has the 4-tuple at all
	detail         string // what was found instead, or ""
}

func (e *noOwnerError) Error() string {
	s := fmt.Sprintf("peercred: no socket owns %v -> %v", e.client, e.server)
	if e.detail != "" {
		s += " (" + e.detail + ")"
	}
	return s
}

func (e *noOwnerError) Is(target error) bool { return target == ErrClosed }

// FromConn returns the credentials of c's peer: for a *net.UnixConn from
// SO_PEERCRED, for a *net.TCPConn from the owner of the client's socket, as
// LookupTCP finds it with the connection's remote address as the client and
// its original destination (see OriginalDst) as the server: the local
// address, unless an nftables redirect brought the connection here. A
// connection that wraps another one with a NetConn method, such as a
// *tls.Conn, is looked through.
//
// Call it right after accepting c, before reading from it: the answer is
// only as good as the moment it was taken (see LookupTCP).
func FromConn(c net.Conn) (Cred, error) {
	return defaultTCP.fromConn(c)
}

func (f tcpFinder) fromConn(c net.Conn) (Cred, error) {
	switch c := netConn(c).(type) {
	case *net.UnixConn:
		return fromUnix(c)
	case *net.TCPConn:
		client, ok := addrPort(c.RemoteAddr())
		if !ok {
			return Cred{}, fmt.Errorf("peercred: a TCP connection without a remote address (%v -> %v)", c.RemoteAddr(), c.LocalAddr())
		}
		server, _, err := originalDst(c)
		if err != nil {
			return Cred{}, err
		}
		return f.lookup(client, server)
	default:
		return Cred{}, fmt.Errorf("%w: a connection of type %T", ErrUnsupported, c)
	}
}

// OriginalDst returns the address c's client connected to: the
// destination it had before an nftables or iptables redirect (or DNAT)
// brought it to this listener, which SO_ORIGINAL_DST tells for IPv4 and
// IP6T_SO_ORIGINAL_DST for IPv6, and whether it was redirected at all. A
// connection that came straight here, or that conntrack does not track,
// returns its local address and false. A connection that wraps another
// one with a NetConn method is looked through; one that is not TCP is an
// error matching ErrUnsupported. An IPv4 client of a dual-stack listener
// is asked about at the IPv4 level, where the kernel answers for it.
func OriginalDst(c net.Conn) (dst netip.AddrPort, redirected bool, err error) {
	tc, ok := netConn(c).(*net.TCPConn)
	if !ok {
		return netip.AddrPort{}, false, fmt.Errorf("%w: the original destination of a connection of type %T", ErrUnsupported, c)
	}
	return originalDst(tc)
}

// netConn returns the connection underneath wrappers such as *tls.Conn.
func netConn(c net.Conn) net.Conn {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = w.NetConn()
	}
}

// LookupTCP returns the owner of the TCP socket on this host whose local
// end is client and whose remote end is server: the client's side of a
// connection a listener accepted from client on server. For a connection
// that an nftables redirect brought to the listener, server is the
// connection's original destination (OriginalDst), since that is what
// the client's socket is connected to.
//
// The socket must match both endpoints exactly and still belong to a
// connection: a listening socket on the client's port or a new socket that
// is only trying to connect with the same 4-tuple is never taken for the
// client. A client that has closed its socket yields an error matching
// ErrClosed, never UID 0.
//
// One race remains. Once the client's socket is gone (reset, or closed
// and let go of by the kernel when FIN_WAIT2 times out), another local
// process can bind the same address and port and connect to the same
// server. If its socket is connected by the time of the lookup, the answer
// is the new socket's owner: the process that holds the 4-tuple now, not
// the one that sent whatever the listener has already read. The
// listener's side of the old connection is then reset or at its end, so
// nothing more comes through it. Look up right after accept, before
// reading, and take the UID as the owner at that moment.
func LookupTCP(client, server netip.AddrPort) (Cred, error) {
	return defaultTCP.lookup(client, server)
}

// addrPort returns a TCP address as a netip.AddrPort, IPv4 in its 4-byte
// form, as the kernel's IPv4 tables hold it.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}
