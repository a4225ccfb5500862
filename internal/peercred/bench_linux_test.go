package peercred

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"testing"
)

// BenchmarkLookupNetlink measures one sock_diag lookup of a loopback
// connection's owner with 1,000 other sockets open on the host.
func BenchmarkLookupNetlink(b *testing.B) {
	benchmarkLookup(b, tcpFinder{diag: sockDiag})
}

// BenchmarkLookupProc measures the /proc/net/tcp fallback on the same
// host, whose cost grows with the sockets it must read past.
func BenchmarkLookupProc(b *testing.B) {
	benchmarkLookup(b, tcpFinder{proc: procNet})
}

func benchmarkLookup(b *testing.B, f tcpFinder) {
	client, server := openConns(b, 500)
	if cred, err := f.lookup(client, server); err != nil || cred.UID != os.Getuid() {
		b.Fatalf("lookup of %v -> %v: %+v, %v; want UID %d", client, server, cred, err, os.Getuid())
	}
	for b.Loop() {
		if _, err := f.lookup(client, server); err != nil {
			b.Fatal(err)
		}
	}
	// The sockets a lookup was made among, the benchmark's own included.
	if tcp, err := os.ReadFile("/proc/net/tcp"); err == nil {
		b.ReportMetric(float64(bytes.Count(tcp, []byte("\n"))-1), "ipv4-sockets")
	}
}

// openConns opens n loopback connections, 2n sockets, and one more whose
// client end it returns; all stay open until the benchmark ends.
func openConns(b *testing.B, n int) (client, server netip.AddrPort) {
	b.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := range n + 1 {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			c.Close()
			s.Close()
		})
		if i == n/2 {
			client, _ = addrPort(s.RemoteAddr())
			server, _ = addrPort(s.LocalAddr())
		}
	}
	return client, server
}
