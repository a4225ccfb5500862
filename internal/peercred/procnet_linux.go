package peercred

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
)

// procNet finds the socket with the exact 4-tuple in /proc/net/tcp (IPv4)
// and /proc/net/tcp6 (IPv6, and IPv4 through a mapped address). It reads
// the whole table, so it costs time in proportion to the sockets on the
// host; it is the fallback for a kernel or sandbox without sock_diag.
func procNet(client, server netip.AddrPort) (Cred, error) {
	type table struct {
		path           string
		client, server string // the endpoints as the table writes them
	}
	var tables []table
	if client.Addr().Is4() {
		tables = append(tables, table{"/proc/net/tcp", procAddr(client), procAddr(server)})
		client6 := netip.AddrPortFrom(netip.AddrFrom16(client.Addr().As16()), client.Port())
		server6 := netip.AddrPortFrom(netip.AddrFrom16(server.Addr().As16()), server.Port())
		tables = append(tables, table{"/proc/net/tcp6", procAddr(client6), procAddr(server6)})
	} else {
		tables = append(tables, table{"/proc/net/tcp6", procAddr(client), procAddr(server)})
	}
	var closed error
	for _, t := range tables {
		cred, err := procTable(t.path, client, server, t.client, t.server)
		var none *noOwnerError
		switch {
		case err == nil:
			return cred, nil
		case errors.As(err, &none):
			if !none.absent || closed == nil {
				closed = err
			}
		case errors.Is(err, fs.ErrNotExist) && t.path == "/proc/net/tcp6":
			// A kernel without IPv6 has no such table.
		default:
			return Cred{}, err
		}
	}
	if closed != nil {
		return Cred{}, closed
	}
	return Cred{}, &noOwnerError{client: client, server: server, absent: true}
}

// procTable scans one table for a connected socket with the local end
// local and the remote end remote, written as the table writes them. A
// table may hold the 4-tuple twice, a socket in TIME_WAIT and a newer one,
// so every line is read; a connected socket wins.
func procTable(path string, client, server netip.AddrPort, local, remote string) (Cred, error) {
	f, err := os.Open(path)
	if err != nil {
		return Cred{}, unavailable("peercred: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	var found error
	localBytes := []byte(local)
	for sc.Scan() {
		line := sc.Bytes()
		// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when
		// retrnsmt uid timeout inode ...", see net/ipv4/tcp_ipv4.c.
		if !bytes.Contains(line, localBytes) {
			continue
		}
		fields := bytes.Fields(line)
		if len(fields) < 10 || string(fields[1]) != local || string(fields[2]) != remote {
			continue
		}
		state, err1 := strconv.ParseUint(string(fields[3]), 16, 8)
		uid, err2 := strconv.ParseUint(string(fields[7]), 10, 32)
		inode, err3 := strconv.ParseUint(string(fields[9]), 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return Cred{}, unavailable("peercred: %s: a line that does not parse: %q", path, line)
		}
		cred, err := owner(client, server, tcpState(state), uint32(uid), inode)
		if err == nil {
			return cred, nil
		}
		found = err
	}
	if err := sc.Err(); err != nil {
		return Cred{}, unavailable("peercred: %s: %w", path, err)
	}
	if found != nil {
		return Cred{}, found
	}
	return Cred{}, &noOwnerError{client: client, server: server, absent: true}
}

// procAddr writes an endpoint as /proc/net/tcp{,6} does: the address as
// 32-bit words in the host's byte order, each in upper-case hex, then a
// colon and the port in hex.
func procAddr(ap netip.AddrPort) string {
	a := ap.Addr().AsSlice()
	words := make([]byte, len(a))
	for i := 0; i < len(a); i += 4 {
		binary.BigEndian.PutUint32(words[i:], binary.NativeEndian.Uint32(a[i:]))
	}
	return fmt.Sprintf("%s:%04X", bytes.ToUpper([]byte(hex.EncodeToString(words))), ap.Port())
}
