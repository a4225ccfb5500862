package peercred

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// tcpFinder finds the owner of a TCP socket by its exact 4-tuple. diag and
// proc are the two sources, tried in that order; a nil source is skipped,
// which tests use to exercise one alone.
type tcpFinder struct {
	diag func(client, server netip.AddrPort) (Cred, error)
	proc func(client, server netip.AddrPort) (Cred, error)
}

var defaultTCP = tcpFinder{diag: sockDiag, proc: procNet}

// unavailableError is the error of a source that could not answer at all,
// as opposed to one that answered that no process owns the socket.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

func unavailable(format string, args ...any) error {
	return &unavailableError{fmt.Errorf(format, args...)}
}

func isUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}

func (f tcpFinder) lookup(client, server netip.AddrPort) (Cred, error) {
	client = netip.AddrPortFrom(client.Addr().Unmap().WithZone(""), client.Port())
	server = netip.AddrPortFrom(server.Addr().Unmap().WithZone(""), server.Port())
	if !client.IsValid() || !server.IsValid() || client.Addr().Is4() != server.Addr().Is4() {
		return Cred{}, fmt.Errorf("peercred: not the two ends of one TCP connection: %v -> %v", client, server)
	}
	local, err := isLocal(client.Addr())
	if err != nil {
		return Cred{}, err
	}
	if !local {
		return Cred{}, fmt.Errorf("%w: %v", ErrNotLocal, client.Addr())
	}

	var diagErr error
	if f.diag != nil {
		cred, err := f.diag(client, server)
		var none *noOwnerError
		// sock_diag answers ENOENT both for a socket that does not exist
		// and for a kernel without TCP diagnostics: /proc tells the two
		// apart, at a cost paid only when the client is gone.
		retry := isUnavailable(err) || errors.As(err, &none) && none.absent
		if err == nil || !retry || f.proc == nil {
			return cred, err
		}
		diagErr = err
	}
	if f.proc == nil {
		return Cred{}, errors.New("peercred: no source to look up TCP sockets in")
	}
	cred, err := f.proc(client, server)
	if isUnavailable(err) && diagErr != nil {
		return Cred{}, fmt.Errorf("%w, and %w", diagErr, err)
	}
	return cred, err
}

// isLocal reports whether a is an address of this host, where the owner
// of a socket can be known.
func isLocal(a netip.Addr) (bool, error) {
	if a.IsLoopback() {
		return true, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, fmt.Errorf("peercred: the host's addresses: %w", err)
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true, nil
			}
		}
	}
	return false, nil
}

// fromUnix reads SO_PEERCRED, which the kernel filled in when the client
// connected.
func fromUnix(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peercred: %w", err)
	}
	var uc *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, fmt.Errorf("peercred: %w", err)
	}
	if serr != nil {
		return Cred{}, fmt.Errorf("peercred: SO_PEERCRED on %v: %w", c.LocalAddr(), serr)
	}
	// A socket that never had a peer reports PID 0 and the overflow IDs.
	if uc.Pid == 0 {
		return Cred{}, fmt.Errorf("peercred: %v has no peer credentials", c.LocalAddr())
	}
	return Cred{UID: int(uc.Uid), GID: int(uc.Gid), PID: int(uc.Pid)}, nil
}
