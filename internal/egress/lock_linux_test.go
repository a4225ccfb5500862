package egress_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun/internal/egress"
	"github.com/spamrun/spamrun/internal/peercred"
	"github.com/spamrun/spamrun/internal/syncbuf"
	"github.com/spamrun/spamrun/spamruntest"
)

// Addresses inside the test's namespace that stand for the internet: a
// remote MX, over IPv4 and IPv6, and a site's own outside provider.
const (
	mx4      = "198.51.100.25"
	mx6      = "2001:db8::25"
	provider = "198.51.100.26"
	// listenPort is the listener's port on 127.0.0.1 and ::1.
	listenPort = 10025
)

// dialBin is peercred's test client, built once: run as a site user, it
// connects, prints its socket's local address and holds the connection
// until its standard input ends.
var dialBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	bin, cleanup, err := spamruntest.BuildForUsers("../peercred/testdata/dial")
	if err != nil {
		fmt.Fprintf(os.Stderr, "the test client: %v\n", err)
		return 1
	}
	defer cleanup()
	dialBin = bin
	return m.Run()
}

// arrival is a connection a test listener accepted, with what the kernel
// says about it.
type arrival struct {
	remote     netip.AddrPort
	uid        int
	credErr    error
	dst        netip.AddrPort
	redirected bool
	dstErr     error
}

// listener accepts on one address and reports each connection's owner
// and original destination, as spamrun's listener learns them.
type listener struct {
	name string
	ch   chan arrival
}

func listen(t *testing.T, name, addr string) *listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { l.Close() })
	ln := &listener{name: name, ch: make(chan arrival, 16)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			a := arrival{remote: netip.MustParseAddrPort(c.RemoteAddr().String())}
			a.remote = netip.AddrPortFrom(a.remote.Addr().Unmap(), a.remote.Port())
			cred, err := peercred.FromConn(c)
			a.uid, a.credErr = cred.UID, err
			a.dst, a.redirected, a.dstErr = peercred.OriginalDst(c)
			ln.ch <- a
			// The client holds its side until the test lets it go; the
			// listener's side goes with the test.
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln
}

// next returns the next connection the listener accepted.
func (ln *listener) next(t *testing.T) arrival {
	t.Helper()
	select {
	case a := <-ln.ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("%s accepted nothing in 10s", ln.name)
		return arrival{}
	}
}

// client is the dial program connected, or failed to connect, as a user.
type client struct {
	local  netip.AddrPort // "" when the connection failed
	stderr *syncbuf.Buffer
	stdin  io.WriteCloser
	wait   func() error
}

// connect runs a client as u (nil: as root, the test's own user), by
// default dial to target, and waits until it has connected or failed. A
// client prints its socket's local address when it has connected, and
// holds the connection until its standard input ends.
func connect(t *testing.T, u *spamruntest.SiteUser, target string, argv ...string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if argv == nil {
		argv = []string{dialBin, "tcp", target}
	}
	var cmd *exec.Cmd
	if u != nil {
		cmd = u.Command(ctx, nil, argv[0], argv[1:]...)
	} else {
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	}
	c := &client{stderr: new(syncbuf.Buffer)}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.wait = func() error { defer cancel(); return cmd.Wait() }
	t.Cleanup(func() { c.stdin.Close(); c.wait() })
	sc := bufio.NewScanner(stdout)
	if sc.Scan() {
		ap := netip.MustParseAddrPort(sc.Text())
		c.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	} else {
		c.stdin.Close()
		c.wait()
	}
	return c
}

// lands connects as u to target and checks that ln took the connection
// from u's UID, redirected from target or not. The client is dial, or
// argv when given.
func lands(t *testing.T, u *spamruntest.SiteUser, target string, ln *listener, redirected bool, argv ...string) {
	t.Helper()
	who, uid := "root", 0
	if u != nil {
		who, uid = u.Login, u.UID
	}
	c := connect(t, u, target, argv...)
	if !c.local.IsValid() {
		t.Fatalf("%s to %s: did not connect: %s", who, target, c.stderr)
	}
	a := ln.next(t)
	if a.remote != c.local {
		t.Fatalf("%s to %s: %s took a connection from %v, the client's is %v", who, target, ln.name, a.remote, c.local)
	}
	if a.credErr != nil || a.uid != uid {
		t.Errorf("%s to %s: %s found UID %d (%v), want %d", who, target, ln.name, a.uid, a.credErr, uid)
	}
	want := netip.MustParseAddrPort(target)
	if a.dstErr != nil || a.redirected != redirected || a.dst != want {
		t.Errorf("%s to %s: %s found the original destination %v, redirected %v (%v); want %v, %v", who, target, ln.name, a.dst, a.redirected, a.dstErr, want, redirected)
	}
	c.stdin.Close()
}

// reset connects as u to target and checks that the connection is
// refused at once, as a reset from the lock makes it.
func reset(t *testing.T, u *spamruntest.SiteUser, target string) {
	t.Helper()
	c := connect(t, u, target)
	if c.local.IsValid() {
		t.Fatalf("%s to %s connected from %v; want it reset", u.Login, target, c.local)
	}
	if !strings.Contains(c.stderr.String(), "connection refused") {
		t.Errorf("%s to %s: %s; want connection refused", u.Login, target, c.stderr)
	}
}

// TestLock loads the lock into a namespace's nftables and connects, as
// two site users (with a Go client and with PHP's fsockopen), an exempt
// user and root, to addresses standing for remote MXes and to loopback:
// site users' SMTP lands at the listener with their UID and its original
// destination, SMTPS is reset, the others reach the MX, and a site's
// allowed provider is its alone.
func TestLock(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	spamruntest.NeedCommand(t, "nft", "nftables")
	spamruntest.NeedSiteUsers(t)
	siteA := spamruntest.AddSiteUser(t, "egra")
	siteB := spamruntest.AddSiteUser(t, "egrb")
	installation := spamruntest.AddSiteUser(t, "egrx")
	for _, a := range []string{mx4 + "/32", provider + "/32", mx6 + "/128"} {
		args := []string{"addr", "add", a, "dev", "lo"}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	smtpd4 := listen(t, "the listener on 127.0.0.1", fmt.Sprintf("127.0.0.1:%d", listenPort))
	smtpd6 := listen(t, "the listener on ::1", fmt.Sprintf("[::1]:%d", listenPort))
	mx := listen(t, "the MX on port 25", mx4+":25")
	mxV6 := listen(t, "the MX on IPv6", "["+mx6+"]:587")
	smtps := listen(t, "the MX on port 465", mx4+":465")
	prov := listen(t, "site A's provider", provider+":587")

	ctx := context.Background()
	lock := egress.Lock{Mode: egress.Redirect, Port4: listenPort, Port6: listenPort}
	if missing := lock.ExemptUsers(installation.Login, "spamrun-no-such-user"); len(missing) != 1 {
		t.Fatalf("missing users %v, want the one that does not exist", missing)
	}
	lock.AllowSite(ctx, nil, "a", siteA.UID, []string{provider + ":587"})
	if len(lock.Notes) != 0 {
		t.Fatalf("notes: %q", lock.Notes)
	}
	if err := egress.Apply(ctx, lock); err != nil {
		t.Fatal(err)
	}
	shown, err := egress.Show(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "table inet spamrun") || !strings.Contains(shown, fmt.Sprint(installation.UID)) {
		t.Fatalf("Show:\n%s", shown)
	}

	t.Run("redirect", func(t *testing.T) {
		lands(t, &siteA, mx4+":25", smtpd4, true)
		lands(t, &siteA, "127.0.0.1:25", smtpd4, true)
		lands(t, &siteB, "[::1]:25", smtpd6, true)
		lands(t, &siteB, "["+mx6+"]:587", smtpd6, true)
		lands(t, &siteA, mx4+":587", smtpd4, true)
		// The listener itself is reached directly.
		lands(t, &siteA, fmt.Sprintf("127.0.0.1:%d", listenPort), smtpd4, false)
		reset(t, &siteA, mx4+":465")
		reset(t, &siteB, "["+mx6+"]:465")
	})
	t.Run("php", func(t *testing.T) {
		// What a mailer kit does besides mail(): PHP's own socket to an MX.
		php := spamruntest.NeedCommand(t, "php", "php-cli")
		for _, c := range []struct{ host, port, target string }{
			{mx4, "25", mx4 + ":25"},
			{"[" + mx6 + "]", "587", "[" + mx6 + "]:587"},
		} {
			script := fmt.Sprintf(`$s = fsockopen(%q, %s, $errno, $error, 10);
if (!$s) { fwrite(STDERR, "$error\n"); exit(1); }
echo stream_socket_get_name($s, false), "\n";
stream_get_contents(STDIN);`, c.host, c.port)
			ln := smtpd4
			if strings.HasPrefix(c.host, "[") {
				ln = smtpd6
			}
			lands(t, &siteB, c.target, ln, true, php, "-r", script)
		}
	})
	t.Run("exempt", func(t *testing.T) {
		lands(t, nil, mx4+":25", mx, false)
		lands(t, &installation, mx4+":25", mx, false)
		lands(t, &installation, "["+mx6+"]:587", mxV6, false)
		lands(t, nil, mx4+":465", smtps, false)
	})
	t.Run("allowed", func(t *testing.T) {
		lands(t, &siteA, provider+":587", prov, false)
		lands(t, &siteB, provider+":587", smtpd4, true)
		// Only the port allowed.
		lands(t, &siteA, provider+":25", smtpd4, true)
	})
	t.Run("again", func(t *testing.T) {
		if err := egress.Apply(ctx, lock); err != nil {
			t.Fatal(err)
		}
		again, err := egress.Show(ctx)
		if err != nil || again != shown {
			t.Fatalf("the table after applying it twice (%v):\n%s\nwant\n%s", err, again, shown)
		}
		lands(t, &siteB, mx4+":25", smtpd4, true)
	})
	t.Run("reject", func(t *testing.T) {
		rejecting := lock
		rejecting.Mode = egress.Reject
		if err := egress.Apply(ctx, rejecting); err != nil {
			t.Fatal(err)
		}
		reset(t, &siteA, mx4+":25")
		reset(t, &siteB, "[::1]:587")
		reset(t, &siteB, mx4+":465")
		lands(t, &siteA, provider+":587", prov, false)
		lands(t, &installation, mx4+":25", mx, false)
	})
	t.Run("off", func(t *testing.T) {
		off := lock
		off.Mode = egress.Off
		if err := egress.Apply(ctx, off); err != nil {
			t.Fatal(err)
		}
		if _, err := egress.Show(ctx); !errors.Is(err, egress.ErrNotLoaded) {
			t.Fatalf("Show after off: %v, want ErrNotLoaded", err)
		}
		if err := egress.Remove(ctx); err != nil {
			t.Errorf("removing a lock that is not there: %v", err)
		}
		lands(t, &siteA, mx4+":25", mx, false)
		lands(t, &siteB, mx4+":465", smtps, false)
	})
}

// TestApplyErrors shows what an operator reads when nft refuses the
// rules, and when the lock makes no sense.
func TestApplyErrors(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	spamruntest.NeedCommand(t, "nft", "nftables")
	ctx := context.Background()
	if err := egress.Apply(ctx, egress.Lock{Mode: egress.Redirect}); err == nil || !strings.Contains(err.Error(), "needs a listener") {
		t.Errorf("redirect without a listener: %v", err)
	}
	// A UID above the kernel's 32 bits passes Ruleset and fails in nft,
	// whose message names the line.
	err := egress.Apply(ctx, egress.Lock{Mode: egress.Reject, Exempt: []int{1 << 40}})
	if err == nil || !strings.Contains(err.Error(), "egress: nft -f -: exit status 1:") || !strings.Contains(err.Error(), "/dev/stdin:") {
		t.Errorf("nft refusing the script: %v", err)
	}
	if _, err := egress.Show(ctx); !errors.Is(err, egress.ErrNotLoaded) {
		t.Errorf("a failed apply left a table: %v", err)
	}
}
