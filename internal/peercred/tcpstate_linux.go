package peercred

import (
	"fmt"
	"net/netip"
)

// tcpState is a socket's state as the kernel numbers it
// (include/net/tcp_states.h), in sock_diag replies and /proc/net/tcp.
type tcpState uint8

const (
	tcpEstablished tcpState = 1 + iota
	tcpSynSent
	tcpSynRecv
	tcpFinWait1
	tcpFinWait2
	tcpTimeWait
	tcpClose
	tcpCloseWait
	tcpLastAck
	tcpListen
	tcpClosing
	tcpNewSynRecv
	tcpBoundInactive
)

var tcpStateNames = [...]string{
	tcpEstablished: "ESTABLISHED", tcpSynSent: "SYN_SENT", tcpSynRecv: "SYN_RECV",
	tcpFinWait1: "FIN_WAIT1", tcpFinWait2: "FIN_WAIT2", tcpTimeWait: "TIME_WAIT",
	tcpClose: "CLOSE", tcpCloseWait: "CLOSE_WAIT", tcpLastAck: "LAST_ACK",
	tcpListen: "LISTEN", tcpClosing: "CLOSING", tcpNewSynRecv: "NEW_SYN_RECV",
	tcpBoundInactive: "BOUND_INACTIVE",
}

func (s tcpState) String() string {
	if int(s) < len(tcpStateNames) && tcpStateNames[s] != "" {
		return tcpStateNames[s]
	}
	return fmt.Sprintf("state %d", uint8(s))
}

// connected reports whether a socket in state s can be the client's side
// of a connection a listener has accepted: one that has completed its
// handshake and not yet been closed for good. A socket still in SYN_SENT
// with the same 4-tuple is a newcomer trying to reuse it, and a listening
// socket on the client's port shares only half of the tuple.
func (s tcpState) connected() bool {
	switch s {
	case tcpEstablished, tcpFinWait1, tcpFinWait2, tcpCloseWait, tcpLastAck, tcpClosing:
		return true
	}
	return false
}

// owner turns what a source found for the exact 4-tuple into the answer:
// the owner of a connected socket that a process still holds, or an error
// matching ErrClosed. A socket in TIME_WAIT, or one its process has closed
// (an orphan, inode 0), is reported as closed, never as owned by UID 0,
// which is what the kernel shows for the first.
func owner(client, server netip.AddrPort, state tcpState, uid uint32, inode uint64) (Cred, error) {
	if state == tcpTimeWait || state == tcpClose {
		return Cred{}, &noOwnerError{client: client, server: server, detail: "the client closed it, " + state.String()}
	}
	if !state.connected() {
		return Cred{}, &noOwnerError{client: client, server: server, detail: "a socket in " + state.String() + " holds it"}
	}
	if inode == 0 {
		return Cred{}, &noOwnerError{client: client, server: server, detail: "the client closed it, " + state.String()}
	}
	return Cred{UID: int(uid), GID: -1, Inode: inode}, nil
}
