package peercred

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
)

// TestOriginalDst redirects a site user's connections to addresses that
// stand for remote servers with an nftables rule of the test's own, in a
// network namespace of its own, and finds where each was going and whose
// it is: over IPv4, IPv6, and IPv4 to a dual-stack listener.
func TestOriginalDst(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	direct(t)
	nft := spamruntest.NeedCommand(t, "nft", "nftables")
	site, _ := twoSites(t)
	for _, a := range []string{"198.51.100.25/32", "2001:db8::25/128"} {
		args := []string{"addr", "add", a, "dev", "lo"}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	// Ports for the listeners, which each case opens and closes again.
	port, dualPort := freePort(t, "127.0.0.1"), freePort(t, "::")
	rules := "table inet peercredtest {\n\tchain out {\n\t\ttype nat hook output priority -100; policy accept;\n" +
		"\t\ttcp dport 25 redirect to :" + port + "\n" +
		"\t\tip daddr 198.51.100.25 tcp dport 26 redirect to :" + dualPort + "\n\t}\n}\n"
	cmd := exec.Command(nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s\n%s", err, out, rules)
	}

	for _, c := range []struct {
		name, listen, target string
	}{
		{"ipv4", "127.0.0.1:" + port, "198.51.100.25:25"},
		{"ipv4-loopback", "127.0.0.1:" + port, "127.0.0.1:25"},
		{"ipv6", "[::1]:" + port, "[2001:db8::25]:25"},
		{"ipv6-loopback", "[::1]:" + port, "[::1]:25"},
		{"ipv4-to-dual-stack", "[::]:" + dualPort, "198.51.100.25:26"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := net.Listen("tcp", c.listen)
			if err != nil {
				t.Fatal(err)
			}
			next := serve(t, l, nil)
			client := startClient(t, site, "tcp", c.target)
			printed := client.line()
			a := next()
			dst, redirected, err := OriginalDst(a.conn)
			if err != nil || !redirected || dst.String() != c.target {
				t.Fatalf("OriginalDst of a connection to %s accepted on %v: %v, %v, %v", c.target, a.conn.LocalAddr(), dst, redirected, err)
			}
			if got, _, err := OriginalDst(tls.Server(a.conn, &tls.Config{})); got != dst || err != nil {
				t.Errorf("through TLS: %v, %v", got, err)
			}
			a.cred, a.err = FromConn(a.conn)
			checkOwner(t, a, site, client, printed)
			client.end()
		})
	}
}

// direct checks OriginalDst of connections that nothing redirected.
func direct(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dst, redirected, err := OriginalDst(s)
	if err != nil || redirected || dst != netip.MustParseAddrPort(l.Addr().String()) {
		t.Errorf("a direct connection: %v, %v, %v; want the listener's address, not redirected", dst, redirected, err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, _, err := OriginalDst(a); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a pipe: %v, want ErrUnsupported", err)
	}
}

// freePort returns a TCP port that is free on host now.
func freePort(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
