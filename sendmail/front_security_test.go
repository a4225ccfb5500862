package main

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun/internal/handoff"
	"github.com/spamrun/spamrun/internal/syncbuf"
	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
	"github.com/spamrun/spamrun/sqlitestore"
)

// frontHelperEnv makes the test binary a program a website runs instead
// of the tests: a daemon of its own on the front's socket, or a client
// that talks to spamrun serve's socket directly.
const frontHelperEnv = "SPAMRUN_FRONT_TEST_HELPER"

func init() {
	mode := os.Getenv(frontHelperEnv)
	if mode == "" {
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "%s=%s: want the socket as the one argument\n", frontHelperEnv, mode)
		os.Exit(2)
	}
	var err error
	if mode == "fake-daemon" {
		err = fakeDaemon(os.Args[1])
	} else {
		err = rawClient(os.Args[1], mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// fakeDaemon is a website's own daemon at sock: it takes every message
// the front hands it, reads none, and answers exit 0. It says "ready" on
// standard output once it listens, and serves until killed, for a minute
// or 16 connections at most.
func fakeDaemon(sock string) error {
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		return err
	}
	l.(*net.UnixListener).SetDeadline(time.Now().Add(time.Minute))
	fmt.Println("ready")
	for range 16 {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		uc := c.(*net.UnixConn)
		uc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := handoff.ReadRequest(uc); err == nil {
			uc.Write([]byte{handoff.Go})
			buf, oob := make([]byte, 1), make([]byte, 64)
			if _, oobn, _, _, err := uc.ReadMsgUnix(buf, oob); err == nil {
				if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
					for i := range msgs {
						fds, _ := syscall.ParseUnixRights(&msgs[i])
						for _, fd := range fds {
							syscall.Close(fd)
						}
					}
				}
				uc.Write(handoff.EncodeAnswer(0, ""))
			}
		}
		uc.Close()
	}
	return nil
}

// rawClient talks to spamrun serve's socket as no front does, and prints
// every byte it hears back, as "reply F" and the like, then "eof".
func rawClient(sock, mode string) error {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	uc := c.(*net.UnixConn)
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(20 * time.Second))
	request := func(argv ...string) error {
		req, err := handoff.EncodeRequest(argv)
		if err != nil {
			return err
		}
		_, err = uc.Write(req)
		return err
	}
	sendmail := []string{"sendmail", "-t", "-i"}
	switch mode {
	case "garbage":
		_, err = uc.Write([]byte("GET / HTTP/1.0\r\nX: \x00\xff\r\n\r\n" + strings.Repeat("\xff", 4096)))
	case "huge-count":
		_, err = uc.Write(append([]byte("SPAMRUN-SENDMAIL 1\n"), 0xff, 0xff, 0xff, 0xff))
	case "operator-command":
		// The operator's command to re-enable the site, as argv: a
		// message to two local recipients, which the client never sends.
		if err = request("spamrun", "enable", "shop1"); err == nil {
			err = readReply(uc, 1)
		}
		return err
	case "request-then-close":
		// The daemon says go on; the client leaves without its input.
		if err = request(sendmail...); err == nil {
			err = readReply(uc, 1)
		}
		return err
	case "no-descriptor":
		if err = request(sendmail...); err == nil {
			if err = readReply(uc, 1); err == nil {
				_, err = uc.Write([]byte{'S'})
			}
		}
	case "two-descriptors":
		if err = request(sendmail...); err == nil {
			if err = readReply(uc, 1); err == nil {
				_, _, err = uc.WriteMsgUnix([]byte{'S'}, syscall.UnixRights(0, 0), nil)
			}
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	return readReply(uc, 1<<20)
}

// readReply prints up to n bytes of what the daemon says, then "eof"
// when it closed the connection.
func readReply(c net.Conn, n int) error {
	buf := make([]byte, 1)
	for range n {
		if _, err := c.Read(buf); err != nil {
			fmt.Println("eof")
			return nil
		}
		fmt.Printf("reply %q\n", buf[0])
	}
	return nil
}

// frontHost is an installation whose spamrun serve runs as the install
// user, as its unit runs it, with the sendmail socket in the prefix.
type frontHost struct {
	*hostInstall
	front string // the front beside the installed full sendmail
	// recording is a copy of the front whose spamrun-sendmail records
	// its runs in fallbacks and takes nothing, for the messages that must
	// reach the daemon.
	recording, fallbacks string
	helper               string // the test binary, for the website's own programs
	sock                 string
	daemon               *runnerProc
}

// newFrontHost installs into a new prefix, places the front beside the
// installed full sendmail unless the installation did, and starts spamrun
// serve on the sendmail socket.
func newFrontHost(t *testing.T, siteA string) *frontHost {
	t.Helper()
	h := &frontHost{hostInstall: newHostInstall(t, siteA)}
	h.front = filepath.Join(filepath.Dir(h.bin), frontName)
	if _, err := os.Stat(h.front); err != nil {
		if err := copyFile(frontBinary(t), h.front, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(h.front, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(h.prefix, "front-test")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.recording, h.fallbacks = filepath.Join(dir, frontName), filepath.Join(dir, "fallbacks")
	if err := copyFile(frontBinary(t), h.recording, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\036' \"$*\" >>%s\nexit 70\n", h.fallbacks)
	if err := os.WriteFile(filepath.Join(dir, fullName), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// Every website records its runs there.
	if err := os.WriteFile(h.fallbacks, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.fallbacks, 0o666); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h.helper = filepath.Join(h.prefix, "site-helper")
	if err := copyFile(self, h.helper, 0o755); err != nil {
		t.Fatal(err)
	}
	// Where install.sh makes room for the socket, and where the front it
	// installed looks for it.
	run := filepath.Join(h.prefix, "run", "spamrun")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(h.group)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if err := os.Chown(run, uid, h.gid); err != nil {
		t.Fatal(err)
	}
	h.sock = filepath.Join(run, "sendmail.sock")
	f, err := os.OpenFile(h.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "\n[smtpd]\nlisten = [%q]\ntrusted_users = []\nsendmail_socket = %q\n", spamruntest.FreeAddr(t), h.sock)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	h.startDaemon(uid)
	return h
}

// startDaemon starts the installed spamrun serve as the install user.
func (h *frontHost) startDaemon(uid int) {
	t := h.t
	t.Helper()
	op := filepath.Join(filepath.Dir(h.bin), "spamrun")
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(h.gid), "--init-groups", "--",
		op, "serve", "-v", "--interval", runnerInterval)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SPAMRUN_CONFIG=" + h.config}
	r := &runnerProc{t: t, cmd: cmd, log: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting spamrun serve: %v", err)
	}
	go func() {
		cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("spamrun serve log (tail):\n%s", tail(r.log.String(), 6000))
		}
	})
	r.waitReady(h.spool)
	waitSocket(t, r, h.sock)
	fi, err := os.Stat(h.sock)
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("the sendmail socket: %v %v, want mode 0666", fi.Mode(), err)
	}
	h.daemon = r
}

// viaFront runs the recording front as website u with env, on the real
// socket unless env names another, until a run reached a daemon.
func (h *frontHost) viaFront(u *siteUser, env []string, stdin string, args ...string) result {
	h.t.Helper()
	return viaDaemon(h.t, h.fallbacks, func() result {
		return h.as(u, append([]string{"SPAMRUN_SENDMAIL_SOCKET=" + h.sock}, env...), stdin, h.recording, args...)
	})
}

// handedOver returns how many messages the daemon took from fronts: the
// lines of its log for a message it accepted, refused or held.
func (h *frontHost) handedOver() int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(h.daemon.log.String()))
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `"msg":"site=`) && strings.Contains(l, " size=") && strings.Contains(l, " score=") {
			n++
		}
	}
	return n
}

// spamLog returns the submission IDs the store counts against site.
func (h *frontHost) spamLog(site string) []string {
	h.t.Helper()
	st, err := sqlitestore.Open(filepath.Join(h.state, "state.db"), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.SpamLog(context.Background(), site, time.Now().Add(time.Minute), 2*time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.Submission)
	}
	return ids
}

// TestFrontSecuritySiteIdentity: mail a website hands to spamrun serve
// through the front is its own, by the UID the kernel reports, whatever
// it forges: the sender, From, X-PHP-Originating-Script, SPAMRUN_CONFIG.
// A website that points the front at a daemon of its own fools only
// itself: that message is neither relayed nor counted.
func TestFrontSecuritySiteIdentity(t *testing.T) {
	h := newFrontHost(t, "")
	evilSink := spamruntest.NewSMTPSink(t)
	env := h.evilEnv(h.evilConfig(evilSink.Addr()))

	r := h.viaFront(h.a, env, forgedOrder, "-t", "-i", "-f", "other@shop2.example")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("site a: exit %d %q", r.code, r.stderr)
	}
	msgs := h.sink.WaitFor(t, 1, 30*time.Second)
	if want := fmt.Sprintf("(spamrun, from userid %d)", h.a.UID); !strings.Contains(header(msgs[0].Data), want) {
		t.Errorf("relayed header lacks %q:\n%s", want, header(msgs[0].Data))
	}
	// A message the relay defers stays in the spool, which shows whose
	// the daemon thinks it is.
	if r := h.viaFront(h.a, env, forgedOrder, "-i", "-f", "other@shop2.example", deferredRcpt); r.code != 0 {
		t.Fatalf("site a, deferred: exit %d %q", r.code, r.stderr)
	}
	spam := string(spamruntest.GuestbookSpam("shop1.example", 1))
	spam = strings.Replace(spam, "X-PHP-Originating-Script: 1008:guestbook.php", "X-PHP-Originating-Script: 1001:shop1/guestbook.php", 1)
	if r := h.viaFront(h.b, env, spam, "-t", "-i", "-fnoreply@shop1.example"); r.code != 0 {
		t.Fatalf("site b, spam: exit %d %q", r.code, r.stderr)
	}
	if n := h.handedOver(); n != 3 {
		t.Errorf("the daemon took %d messages, want the 3: the fronts ran the full sendmail", n)
	}
	if !waitFor(30*time.Second, func() bool {
		return len(h.entries("")) == 2 && len(h.sink.Messages()) == 1 && h.sink.Transactions() >= 2
	}) {
		t.Fatalf("%d messages in the spool, %d relayed; want the deferred and the held one, and one relayed", len(h.entries("")), len(h.sink.Messages()))
	}
	for _, e := range h.entries("") {
		want := h.a
		if e.State == spool.Held {
			want = h.b
		}
		if e.Site != want.site || e.UID != want.UID || e.Evidence.UID != want.UID {
			t.Errorf("spooled as site %q, UID %d, evidence UID %d; sent by site %q, UID %d (sender %q, script %q)",
				e.Site, e.UID, e.Evidence.UID, want.site, want.UID, e.Sender, e.Evidence.Script)
		}
	}
	if got := h.spamLog("shop2"); len(got) != 1 {
		t.Errorf("the store counts %d spam for shop2, want 1", len(got))
	}
	if got := h.spamLog("shop1"); len(got) != 0 {
		t.Errorf("the store counts %d spam for shop1, whose site sent none", len(got))
	}

	// Site b runs a daemon of its own and points the front at it.
	fake := filepath.Join(h.bait, "fake.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := h.command(ctx, h.b, []string{frontHelperEnv + "=fake-daemon"}, h.helper, fake)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the website's daemon: %q %v", line, err)
	}
	before, spooled := h.spamLog("shop2"), len(h.entries(""))
	spam2 := string(tagged("fooled", spamruntest.GuestbookSpam("shop2.example", 2)))
	r = h.viaFront(h.b, append(env, "SPAMRUN_SENDMAIL_SOCKET="+fake), spam2, "-t", "-i", "-fnoreply@shop2.example")
	if r.code != 0 {
		t.Fatalf("through the website's daemon: exit %d %q", r.code, r.stderr)
	}
	// The same message through the real socket, after it: once the daemon
	// has taken that one, it would have taken the other.
	r = h.viaFront(h.b, env, spam2, "-t", "-i", "-fnoreply@shop2.example")
	if r.code != 0 {
		t.Fatalf("site b, spam through the real socket: exit %d %q", r.code, r.stderr)
	}
	after := h.spamLog("shop2")
	if len(after) != len(before)+1 {
		t.Errorf("the store counts %d spam for shop2, want %d: one more for the message through the real socket", len(after), len(before)+1)
	}
	if n := len(h.entries("")); n != spooled+1 {
		t.Errorf("%d messages in the spool, want %d", n, spooled+1)
	}
	for _, e := range h.entries("shop2") {
		if e.UID != h.b.UID {
			t.Errorf("shop2's message spooled as UID %d", e.UID)
		}
	}
	for _, m := range h.sink.Messages() {
		if seqOf(m.Data) == "fooled" {
			t.Errorf("the message reached the relay")
		}
	}
	if n := h.handedOver(); n != 4 {
		t.Errorf("the daemon took %d messages, want 4", n)
	}
	if n := len(evilSink.Messages()); n != 0 {
		t.Errorf("%d messages went to the website's own relay", n)
	}
	os.Remove(fake)

	// Without the daemon, the installed front runs the installed full
	// sendmail, which counts the message as site a's too.
	r = h.as(h.a, append(env, "SPAMRUN_SENDMAIL_SOCKET="+filepath.Join(h.bait, "none.sock")), forgedOrder, h.front, "-t", "-i", "-f", "other@shop2.example")
	if r.code != 0 {
		t.Fatalf("site a without the daemon: exit %d %q", r.code, r.stderr)
	}
	msgs = h.sink.Messages()
	if want := fmt.Sprintf("(spamrun, from userid %d)", h.a.UID); len(msgs) != 2 || !strings.Contains(header(msgs[1].Data), want) {
		t.Errorf("%d relayed; the last lacks %q", len(msgs), want)
	}
	if n := h.handedOver(); n != 4 {
		t.Errorf("the daemon took %d messages, want 4", n)
	}
	if n := len(evilSink.Messages()); n != 0 {
		t.Errorf("%d messages went to the website's own relay", n)
	}
	h.noBait()
}

// TestFrontSecurityDisabledSite: a disabled website cannot re-enable
// itself or reset its count through the daemon's socket, whatever it
// sends there; the daemon stays up and serves the other website.
func TestFrontSecurityDisabledSite(t *testing.T) {
	h := newFrontHost(t, "max_spam = 0")
	spam := string(spamruntest.GuestbookSpam("shop1.example", 0))
	r := h.viaFront(h.a, nil, spam, "-t", "-i", "-fnoreply@shop1.example")
	if r.code != 69 || !strings.Contains(r.stderr, testArticle) {
		t.Fatalf("tripping message: exit %d %q", r.code, r.stderr)
	}
	counted := h.spamLog("shop1")
	if len(counted) != 1 {
		t.Fatalf("the store counts %d spam, want the tripping one", len(counted))
	}
	for _, mode := range []string{"garbage", "huge-count", "operator-command", "request-then-close", "no-descriptor", "two-descriptors"} {
		out := h.as(h.a, []string{frontHelperEnv + "=" + mode}, "", h.helper, h.sock)
		if out.code != 0 {
			t.Errorf("%s: exit %d %q", mode, out.code, out.stderr)
		}
		var want string
		switch mode {
		case "garbage", "huge-count":
			want = "eof\n"
		case "operator-command", "request-then-close":
			want = "reply 'G'\n"
		case "no-descriptor", "two-descriptors":
			want = "reply 'G'\neof\n"
		}
		if out.stdout != want {
			t.Errorf("%s: the daemon answered %q, want %q", mode, out.stdout, want)
		}
		select {
		case <-h.daemon.done:
			t.Fatalf("spamrun serve ended after %s: %v", mode, h.daemon.cmd.ProcessState)
		default:
		}
	}
	r = h.viaFront(h.a, nil, hamMessage, "-t", "-i")
	if r.code != 69 {
		t.Errorf("site a after its attempts: exit %d %q, want 69", r.code, r.stderr)
	}
	wantRefusal(t, r.stderr)
	if got := h.spamLog("shop1"); len(got) != 1 || got[0] != counted[0] {
		t.Errorf("the store counts %q, want %q", got, counted)
	}
	if r := h.viaFront(h.b, nil, hamMessage, "-t", "-i"); r.code != 0 {
		t.Errorf("site b: exit %d %q", r.code, r.stderr)
	}
	h.sink.WaitFor(t, 1, 30*time.Second)
	if n := h.handedOver(); n != 3 {
		t.Errorf("the daemon took %d messages, want 3", n)
	}
	if q := h.entries("shop1"); len(q) != 0 {
		t.Errorf("%d messages of the disabled site in the queue", len(q))
	}
	if !queue.Wake(h.spool) {
		t.Error("spamrun serve's runner no longer listens")
	}
}

// TestFrontSecurityReadsOnlyStdin: the daemon reads the message from the
// descriptor the front passes, the website's own standard input, and
// nothing else: a file only root may read, named wherever a command line
// could name one, stays unread.
func TestFrontSecurityReadsOnlyStdin(t *testing.T) {
	h := newFrontHost(t, "")
	secret := filepath.Join(h.prefix, "secret")
	const marker = "SECRET-7f3a91"
	if err := os.WriteFile(secret, []byte("To: x@example.org\nSubject: "+marker+"\n\n"+marker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := string(tagged("own", []byte(hamMessage)))
	r := h.viaFront(h.a, []string{"SPAMRUN_CONFIG=" + secret}, msg, "-t", "-i", "-oQ"+secret, "-oA"+secret)
	if r.code != 0 {
		t.Fatalf("exit %d %q", r.code, r.stderr)
	}
	// The front runs as the website: it could not open the file had it
	// tried.
	if denied := h.as(h.a, nil, "", "/bin/cat", secret); denied.code == 0 {
		t.Fatalf("site a reads %s", secret)
	}
	msgs := h.sink.WaitFor(t, 1, 30*time.Second)
	if seqOf(msgs[0].Data) != "own" || strings.Contains(string(msgs[0].Data), marker) {
		t.Errorf("relayed:\n%s", msgs[0].Data)
	}
	if n := h.handedOver(); n != 1 {
		t.Errorf("the daemon took %d messages, want 1", n)
	}
	if strings.Contains(h.daemon.log.String(), marker) {
		t.Errorf("the daemon logged the secret")
	}
}

// TestFrontSecurityInstalledFront: the front install.sh installs finds the
// installation's own daemon with nothing in the environment, since the
// socket's path is linked into it, and is no more than a website's own
// program: not setuid, owned by root.
func TestFrontSecurityInstalledFront(t *testing.T) {
	h := newFrontHost(t, "")
	fi, err := os.Stat(h.front)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 || st.Uid != 0 {
		t.Fatalf("%s: %v owned by %d, want 0755 owned by root", h.front, fi.Mode(), st.Uid)
	}
	for attempt := 1; ; attempt++ {
		before := h.handedOver()
		r := h.as(h.a, nil, string(tagged("installed", []byte(hamMessage))), h.front, "-t", "-i")
		if r.code != 0 {
			t.Fatalf("the installed front: exit %d %q", r.code, r.stderr)
		}
		if h.handedOver() > before {
			break
		}
		if attempt == frontAttempts {
			t.Fatalf("%d runs of the installed front never reached spamrun serve on %s", attempt, h.sock)
		}
	}
	h.sink.WaitFor(t, 1, 10*time.Second)
}
