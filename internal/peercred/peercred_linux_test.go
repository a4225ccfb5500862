package peercred

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun/internal/syncbuf"
	"github.com/spamrun/spamrun/spamruntest"
)

// dialBin is the client program of testdata/dial, built once for all
// tests into a directory every user can enter.
var dialBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	bin, cleanup, err := spamruntest.BuildForUsers("./testdata/dial")
	if err != nil {
		fmt.Fprintf(os.Stderr, "the test client: %v\n", err)
		return 1
	}
	defer cleanup()
	dialBin = bin
	return m.Run()
}

// source is a way to find a TCP socket's owner.
type source struct {
	name string
	f    tcpFinder
}

// sources are sock_diag and /proc on their own, so that each is shown to
// find the owner, and the default, which tries one and then the other;
// finders are the first two alone.
var (
	sources = []source{
		{"sock_diag", tcpFinder{diag: sockDiag}},
		{"proc", tcpFinder{proc: procNet}},
		{"default", defaultTCP},
	}
	finders = sources[:2]
)

type siteUser = spamruntest.SiteUser

// twoSites returns two website users, or stops a test that cannot create
// them.
func twoSites(t *testing.T) (siteUser, siteUser) {
	t.Helper()
	spamruntest.NeedSiteUsers(t)
	return spamruntest.AddSiteUser(t, "peercred-"), spamruntest.AddSiteUser(t, "peercred-")
}

// client is the dial program running as a website's user.
type client struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr *syncbuf.Buffer
	wait   func() error
}

// startClient runs dial with args as u.
func startClient(t *testing.T, u siteUser, args ...string) *client {
	t.Helper()
	return startAs(t, u, dialBin, args...)
}

// startAs runs a program as u, with u's real and effective UID and GID and
// no supplementary groups, as PHP-FPM runs a site's scripts.
func startAs(t *testing.T, u siteUser, program string, args ...string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := u.Command(ctx, nil, program, args...)
	c := &client{t: t, cmd: cmd, stderr: new(syncbuf.Buffer)}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewScanner(stdout)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.wait = sync.OnceValue(func() error {
		err := cmd.Wait()
		cancel()
		return err
	})
	t.Cleanup(func() {
		c.stdin.Close()
		c.wait()
	})
	return c
}

// line returns the next line the client printed.
func (c *client) line() string {
	c.t.Helper()
	l, ok := c.next()
	if !ok {
		c.t.Fatalf("%v: no more output: %v %s", c.cmd.Args[5:], c.out.Err(), c.stderr)
	}
	return l
}

// next returns the next line the client printed, if it printed one more.
func (c *client) next() (string, bool) {
	if !c.out.Scan() {
		return "", false
	}
	return c.out.Text(), true
}

// end lets the client go and waits for it to exit.
func (c *client) end() {
	c.t.Helper()
	c.stdin.Close()
	if err := c.wait(); err != nil {
		c.t.Fatalf("%v: %v %s", c.cmd.Args[5:], err, c.stderr)
	}
}

// socketInodes returns the inodes of the sockets process pid holds.
func socketInodes(t *testing.T, pid int) map[uint64]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := make(map[uint64]bool)
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				inodes[n] = true
			}
		}
	}
	return inodes
}

// accepted is a connection the test's listener took, with what lookup
// said about its peer.
type accepted struct {
	conn net.Conn
	cred Cred
	err  error
}

// serve accepts on l and, as a listener of websites would, looks up each
// connection's peer as soon as it is accepted, concurrently; with a nil
// lookup it only hands the connections over. Connections stay open until
// the test ends: the listener's side holds the 4-tuple.
func serve(t *testing.T, l net.Listener, lookup func(net.Conn) (Cred, error)) func() accepted {
	ch := make(chan accepted, 1024)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				a := accepted{conn: c}
				if lookup != nil {
					a.cred, a.err = lookup(c)
				}
				ch <- a
			}()
		}
	}()
	return func() accepted {
		t.Helper()
		select {
		case a := <-ch:
			t.Cleanup(func() { a.conn.Close() })
			return a
		case <-time.After(30 * time.Second):
			t.Fatal("no connection came in 30s")
			return accepted{}
		}
	}
}

// door is a way for a client to reach the test's listener.
type door struct {
	name    string
	network string // for Listen
	addr    string // to listen on
	dialTo  string // "" for the listener's address, else an IP to dial it on
	dialNet string // the client's network when it is not the listener's
}

var doors = []door{
	{name: "tcp4", network: "tcp4", addr: "127.0.0.1:0"},
	{name: "tcp6", network: "tcp6", addr: "[::1]:0"},
	{name: "tcp4-to-dual-stack", network: "tcp", addr: "[::]:0", dialTo: "127.0.0.1"},
	// An IPv6 socket that speaks IPv4 through a mapped address.
	{name: "tcp6-mapped-client", network: "tcp4", addr: "127.0.0.1:0", dialTo: "127.0.0.1", dialNet: "tcp6-mapped"},
	{name: "unix", network: "unix"},
}

// listen opens d's listener; a Unix socket lies in a directory every user
// can reach and takes connections from anyone, as a mail socket does.
func (d door) listen(t *testing.T) (l net.Listener, network, target string) {
	t.Helper()
	addr := d.addr
	if d.network == "unix" {
		dir, err := os.MkdirTemp("/tmp", "peercred-sock-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		addr = filepath.Join(dir, "smtp.sock")
	}
	l, err := net.Listen(d.network, addr)
	if err != nil {
		if d.network == "tcp6" {
			spamruntest.Missing(t, "IPv6 on loopback: "+err.Error())
		}
		t.Fatal(err)
	}
	if d.network == "unix" {
		if err := os.Chmod(addr, 0o777); err != nil {
			t.Fatal(err)
		}
		return l, "unix", addr
	}
	target = l.Addr().String()
	if d.dialTo != "" {
		target = net.JoinHostPort(d.dialTo, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	network = "tcp"
	if d.dialNet != "" {
		network = d.dialNet
	}
	return l, network, target
}

// checkOwner checks what a lookup said about a connection from c's
// process, run as u, whose local address c printed as printed.
func checkOwner(t *testing.T, a accepted, u siteUser, c *client, printed string) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("a connection from %s (UID %d): %v", u.Login, u.UID, a.err)
	}
	if a.cred.UID != u.UID {
		t.Fatalf("a connection from %s: UID %d, want %d (%+v)", u.Login, a.cred.UID, u.UID, a.cred)
	}
	if _, unix := a.conn.(*net.UnixConn); unix {
		if a.cred.GID != u.GID || a.cred.PID != c.cmd.Process.Pid || a.cred.Inode != 0 {
			t.Fatalf("a Unix connection from %s: %+v, want GID %d, PID %d, no inode", u.Login, a.cred, u.GID, c.cmd.Process.Pid)
		}
		return
	}
	opened, err := netip.ParseAddrPort(printed)
	if err != nil {
		t.Fatal(err)
	}
	if remote, _ := addrPort(a.conn.RemoteAddr()); remote != netip.AddrPortFrom(opened.Addr().Unmap(), opened.Port()) {
		t.Fatalf("accepted a connection from %v, the client opened %s", remote, printed)
	}
	if a.cred.GID != -1 || a.cred.PID != 0 {
		t.Fatalf("a TCP connection from %s: %+v, want GID -1 and PID 0, which TCP does not tell", u.Login, a.cred)
	}
	if !socketInodes(t, c.cmd.Process.Pid)[a.cred.Inode] {
		t.Fatalf("a connection from %s: inode %d is not a socket of the client process %d", u.Login, a.cred.Inode, c.cmd.Process.Pid)
	}
}

// TestOwner connects as each of two website users through every door
// and checks that each source names the user.
func TestOwner(t *testing.T) {
	siteA, siteB := twoSites(t)
	for _, d := range doors {
		for _, f := range finders {
			if d.network == "unix" && f.name != finders[0].name {
				continue // SO_PEERCRED, whatever the TCP source
			}
			name := d.name
			if d.network != "unix" {
				name += "/" + f.name
			}
			t.Run(name, func(t *testing.T) {
				l, network, target := d.listen(t)
				next := serve(t, l, f.f.fromConn)
				for _, u := range []siteUser{siteA, siteB} {
					c := startClient(t, u, network, target)
					printed := c.line()
					checkOwner(t, next(), u, c, printed)
					c.end()
				}
			})
		}
	}
}

// TestOwnerPHP connects as a website does when its mailer speaks SMTP
// to the local host: PHP's fsockopen, as each of two users.
func TestOwnerPHP(t *testing.T) {
	siteA, siteB := twoSites(t)
	php := spamruntest.NeedCommand(t, "php", "php-cli")
	for _, d := range doors[:2] {
		t.Run(d.name, func(t *testing.T) {
			l, _, target := d.listen(t)
			next := serve(t, l, FromConn)
			host, port, _ := net.SplitHostPort(target)
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			script := fmt.Sprintf(`$s = fsockopen(%q, %s, $errno, $error, 10) or exit("$error\n");
echo stream_socket_get_name($s, false), "\n";
stream_get_contents(STDIN);`, host, port)
			for _, u := range []siteUser{siteA, siteB} {
				c := startAs(t, u, php, "-r", script)
				printed := c.line()
				checkOwner(t, next(), u, c, printed)
				c.end()
			}
		})
	}
}

// TestOwnerConcurrent looks up 200 connections of two users at once, as
// they come, and checks that each is its own user's.
func TestOwnerConcurrent(t *testing.T) {
	const perSite = 100
	siteA, siteB := twoSites(t)
	for _, d := range doors {
		if d.dialTo != "" {
			continue
		}
		for _, f := range sources {
			if d.network == "unix" && f.name != "default" {
				continue
			}
			t.Run(d.name+"/"+f.name, func(t *testing.T) {
				l, network, target := d.listen(t)
				next := serve(t, l, f.f.fromConn)
				// Each client prints its connections' local addresses,
				// which tell the listener's connections apart; on a Unix
				// socket the PID in SO_PEERCRED does.
				clients := map[siteUser]*client{
					siteA: startClient(t, siteA, "-n", strconv.Itoa(perSite), network, target),
					siteB: startClient(t, siteB, "-n", strconv.Itoa(perSite), network, target),
				}
				byAddr := make(map[string]siteUser)
				for u, c := range clients {
					for range perSite {
						byAddr[c.line()] = u
					}
				}
				perUID := make(map[int]int)
				for range 2 * perSite {
					a := next()
					var u siteUser
					printed := "unix"
					if _, ok := a.conn.(*net.UnixConn); ok {
						u = siteA
						if a.cred.PID == clients[siteB].cmd.Process.Pid {
							u = siteB
						}
					} else {
						remote, _ := addrPort(a.conn.RemoteAddr())
						printed = remote.String()
						var ok bool
						if u, ok = byAddr[printed]; !ok {
							t.Fatalf("a connection from %v, which no client opened", remote)
						}
					}
					checkOwner(t, a, u, clients[u], printed)
					perUID[a.cred.UID]++
				}
				if perUID[siteA.UID] != perSite || perUID[siteB.UID] != perSite {
					t.Fatalf("connections per UID %v, want %d for %d and %d", perUID, perSite, siteA.UID, siteB.UID)
				}
				for _, c := range clients {
					c.end()
				}
			})
		}
	}
}

// TestClosedClient looks up connections whose client closed its socket
// before the lookup: each must be an error matching ErrClosed, never UID 0
// (which the kernel shows for TIME_WAIT) nor the UID of a process that
// took the client's port afterwards.
func TestClosedClient(t *testing.T) {
	siteA, siteB := twoSites(t)
	for _, d := range doors[:2] {
		for _, f := range sources {
			t.Run(d.name+"/"+f.name, func(t *testing.T) {
				l, network, target := d.listen(t)
				next := serve(t, l, nil)
				// closed connects, lets mode close the socket, and
				// returns the two ends once the client has exited.
				closed := func(mode string) (client, server netip.AddrPort) {
					t.Helper()
					c := startClient(t, siteA, mode, network, target)
					c.line()
					if got := c.line(); got != "closed" {
						t.Fatalf("dial %s printed %q", mode, got)
					}
					c.end()
					a := next()
					client, _ = addrPort(a.conn.RemoteAddr())
					server, _ = addrPort(a.conn.LocalAddr())
					return client, server
				}
				wantClosed := func(client, server netip.AddrPort, detail string) {
					t.Helper()
					cred, err := f.f.lookup(client, server)
					if !errors.Is(err, ErrClosed) || cred != (Cred{}) {
						t.Fatalf("lookup of %v -> %v after the client closed it: %+v, %v; want ErrClosed", client, server, cred, err)
					}
					if !strings.Contains(err.Error(), detail) {
						t.Fatalf("lookup of %v -> %v: %v, want it to say %q", client, server, err, detail)
					}
					t.Log(err)
				}

				// A FIN leaves the client's socket orphaned in FIN_WAIT2
				// while the listener holds its side open.
				client, server := closed("-close")
				wantClosed(client, server, "the client closed it, FIN_WAIT")

				// An RST leaves nothing of it. Another site then listens
				// on the client's address and port: half of the tuple,
				// which sock_diag's lookup offers when the whole is gone.
				// The port may still serve a connection of another
				// program to another destination, which makes the listen
				// fail; then the test takes another port.
				for attempt := 1; ; attempt++ {
					client, server = closed("-reset")
					wantClosed(client, server, fmt.Sprintf("no socket owns %v -> %v", client, server))

					other := startClient(t, siteB, "-listen", client.String())
					if got, ok := other.next(); !ok {
						if attempt < 5 && other.wait() != nil && strings.Contains(other.stderr.String(), "address already in use") {
							continue
						}
						t.Fatalf("dial -listen %v: %v %s", client, other.wait(), other.stderr)
					} else if got != "listening" {
						t.Fatalf("dial -listen printed %q", got)
					}
					detail := "no socket owns"
					if f.name == "sock_diag" {
						detail = "LISTEN"
					}
					wantClosed(client, server, detail)
					other.end()
					break
				}
			})
		}
	}
}

// TestLookupNotLocal refuses a peer whose socket would be on another
// host, and a pair of addresses that cannot be one connection.
func TestLookupNotLocal(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:25")
	if _, err := LookupTCP(netip.MustParseAddrPort("192.0.2.7:40000"), server); !errors.Is(err, ErrNotLocal) {
		t.Errorf("a peer at 192.0.2.7: %v, want ErrNotLocal", err)
	}
	if _, err := LookupTCP(netip.MustParseAddrPort("[::1]:40000"), server); err == nil || errors.Is(err, ErrClosed) {
		t.Errorf("an IPv6 client of an IPv4 server: %v, want an error of its own", err)
	}
	if _, err := FromConn(nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a nil connection: %v, want ErrUnsupported", err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := FromConn(a); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a pipe: %v, want ErrUnsupported", err)
	}
}

// TestFallback shows when the /proc tables are read: when sock_diag
// cannot answer, and when it answers that no socket matches, which a
// kernel without TCP diagnostics also says.
func TestFallback(t *testing.T) {
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
	client, _ := addrPort(s.RemoteAddr())
	server, _ := addrPort(s.LocalAddr())
	want, err := tcpFinder{diag: sockDiag}.lookup(client, server)
	if err != nil || want.UID != os.Getuid() || want.Inode == 0 {
		t.Fatalf("sock_diag: %+v, %v; want UID %d and an inode", want, err, os.Getuid())
	}
	// A listener that speaks TLS looks up the connection underneath.
	if got, err := FromConn(tls.Server(s, &tls.Config{})); err != nil || got != want {
		t.Errorf("through TLS: %+v, %v; want %+v", got, err, want)
	}

	down := func(client, server netip.AddrPort) (Cred, error) {
		return Cred{}, unavailable("peercred: sock_diag is down")
	}
	absent := func(client, server netip.AddrPort) (Cred, error) {
		return Cred{}, &noOwnerError{client: client, server: server, absent: true}
	}
	procDown := func(client, server netip.AddrPort) (Cred, error) {
		return Cred{}, unavailable("peercred: /proc is down")
	}
	for _, c := range []struct {
		name string
		f    tcpFinder
	}{
		{"sock_diag down", tcpFinder{diag: down, proc: procNet}},
		{"sock_diag finds nothing", tcpFinder{diag: absent, proc: procNet}},
	} {
		if got, err := c.f.lookup(client, server); err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v from /proc", c.name, got, err, want)
		}
	}
	_, err = tcpFinder{diag: down, proc: procDown}.lookup(client, server)
	if err == nil || errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "sock_diag is down, and peercred: /proc is down") {
		t.Errorf("both sources down: %v, want an error that names both", err)
	}
	_, err = tcpFinder{diag: absent, proc: procDown}.lookup(client, server)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("sock_diag finds nothing, /proc is down: %v, want sock_diag's answer", err)
	}
}
