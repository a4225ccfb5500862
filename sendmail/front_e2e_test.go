package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// The front tests run the sendmail front, spamrun-sendmail-front, as
// websites run /usr/sbin/sendmail, against spamrun serve listening on its
// sendmail socket, and against no daemon, a daemon that never answers and
// one whose configuration changed.

const (
	frontName = "spamrun-sendmail-front"
	fullName  = "spamrun-sendmail"
)

var (
	frontOnce sync.Once
	frontBin  string
	frontErr  error
)

// frontBinary builds the front once per test binary, as
// spamrun-sendmail-front in a directory of its own beside a copy of the
// full sendmail named spamrun-sendmail, as an installation places them.
func frontBinary(t testing.TB) string {
	t.Helper()
	frontOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(sendmailBin), "front")
		if frontErr = os.MkdirAll(dir, 0o755); frontErr != nil {
			return
		}
		frontBin = filepath.Join(dir, frontName)
		out, err := exec.Command("go", "build", "-o", frontBin, "./front").CombinedOutput()
		if err != nil {
			frontErr = fmt.Errorf("building the front: %v\n%s", err, out)
			return
		}
		frontErr = copyFile(sendmailBin, filepath.Join(dir, fullName), 0o755)
	})
	if frontErr != nil {
		t.Fatal(frontErr)
	}
	return frontBin
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		return err
	}
	return os.Chmod(to, mode)
}

// recordingFront returns a front in a directory of its own whose
// spamrun-sendmail only records that it ran, in the file returned, and
// exits 70: a message that reaches it did not go through the daemon.
func recordingFront(t *testing.T) (front, fallbacks string) {
	t.Helper()
	return recordingFrontThen(t, "exit 70")
}

// recordingFrontThen is recordingFront whose spamrun-sendmail runs the
// shell command then after it recorded its command line.
func recordingFrontThen(t *testing.T, then string) (front, fallbacks string) {
	t.Helper()
	dir := t.TempDir()
	front = filepath.Join(dir, frontName)
	if err := copyFile(frontBinary(t), front, 0o755); err != nil {
		t.Fatal(err)
	}
	fallbacks = filepath.Join(dir, "fallbacks")
	// One record per run, ended by the ASCII record separator: an
	// argument may hold a line break.
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\036' \"$*\" >>%s\n%s\n", fallbacks, then)
	if err := os.WriteFile(filepath.Join(dir, fullName), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return front, fallbacks
}

// fallbacksRun returns the command lines the recording full sendmail was
// run with.
func fallbacksRun(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\x1e"), "\x1e")
}

// frontAttempts bounds the runs of viaDaemon.
const frontAttempts = 5

// viaDaemon returns what run, a run of a recording front that must reach
// the daemon, did, running it again while it ran the full sendmail
// instead: a loaded machine can keep the daemon from answering within the
// front's 25 ms, and the recording sendmail takes nothing. The test fails
// when every one of frontAttempts runs fell back.
func viaDaemon(t *testing.T, fallbacks string, run func() result) result {
	t.Helper()
	for attempt := 1; ; attempt++ {
		before := len(fallbacksRun(t, fallbacks))
		r := run()
		if len(fallbacksRun(t, fallbacks)) == before {
			return r
		}
		if attempt == frontAttempts {
			t.Errorf("%d runs of the front all ran the full sendmail", attempt)
			return r
		}
		t.Logf("run %d of the front ran the full sendmail; again", attempt)
	}
}

// socketPath returns a path for a Unix socket short enough for
// sockaddr_un, in a directory removed when the test ends.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "srf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "sendmail.sock")
}

// startFrontServe starts spamrun serve on e's configuration with its
// sendmail socket at sock, and returns once the socket takes
// connections.
func (e *testEnv) startFrontServe(sock string) *runnerProc {
	e.t.Helper()
	e.appendConfig(fmt.Sprintf("[smtpd]\nlisten = [%q]\ntrusted_users = []\nsendmail_socket = %q\n", spamruntest.FreeAddr(e.t), sock))
	return e.restartFrontServe(sock)
}

// restartFrontServe starts spamrun serve again on a configuration that
// has its socket already.
func (e *testEnv) restartFrontServe(sock string) *runnerProc {
	e.t.Helper()
	r := e.startDaemon(true, "serve", "-v", "--interval", runnerInterval)
	waitSocket(e.t, r, sock)
	return r
}

func waitSocket(t *testing.T, r *runnerProc, sock string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spamrun serve does not listen on %s after 30s: %v\n%s", sock, err, r.log.String())
		}
		select {
		case <-r.done:
			t.Fatalf("spamrun serve exited at once: %v\n%s", r.cmd.ProcessState, r.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// frontCmd is the front at path run with args, on e's configuration and
// the daemon's socket sock.
func (e *testEnv) frontCmd(path, sock string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+e.config, "SPAMRUN_SENDMAIL_SOCKET="+sock)
	return cmd
}

func (e *testEnv) front(path, sock, stdin string, args ...string) result {
	e.t.Helper()
	return runCaptured(e.t, e.frontCmd(path, sock, args...), stdin)
}

var (
	incidentRE  = regexp.MustCompile(`\(incident [^)]*\)`)
	spamCountRE = regexp.MustCompile(`\d+ recipients of spam-marked messages within \S+ \(max_spam \d+\)`)
)

// sameAnswer says whether two sendmail runs ended alike: exit status and
// standard error, incident IDs apart.
func sameAnswer(a, b result) bool {
	norm := func(s string) string { return incidentRE.ReplaceAllString(s, "(incident …)") }
	return a.code == b.code && norm(a.stderr) == norm(b.stderr)
}

// TestFrontThroughDaemon: messages the front hands to spamrun serve are
// relayed, and every answer is the one the full sendmail gives for the
// same message; none of them ran the full sendmail, except the command
// line the full sendmail must report on.
func TestFrontThroughDaemon(t *testing.T) {
	tests := []struct {
		name     string
		extra    string
		args     []string
		stdin    string
		code     int
		stderr   string // a substring; "" means stderr must be empty
		relayed  int
		fallback bool
	}{
		{name: "-t -i with -f", args: []string{"-t", "-i", "-forders@shop1.example"}, stdin: hamMessage, relayed: 1},
		{name: "recipients on the command line", args: []string{"-i", "-f", "orders@shop1.example", "--", "a@example.org", "b@example.net"}, stdin: hamMessage, relayed: 1},
		{name: "-t but no recipient in the header", args: []string{"-t", "-i"}, stdin: "Subject: x\n\nbody\n", code: 64, stderr: "no recipient addresses"},
		{name: "too big", extra: "max_message_size = 2000", args: []string{"-t", "-i"}, stdin: hamMessage + strings.Repeat("x", 3000) + "\n", code: 65, stderr: "larger than the limit of 2000 bytes"},
		{name: "no recipients at all", args: []string{"-i"}, stdin: hamMessage, code: 70, fallback: true},
		// The daemon hands these back: the full sendmail reports them.
		{name: "bad -f", args: []string{"-t", "-i", "-fa@b.example\r\nBcc: x@example.org"}, stdin: hamMessage, code: 70, fallback: true},
		{name: "bad recipient", args: []string{"-i", "a@exa_mple.org"}, stdin: hamMessage, code: 70, fallback: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.extra)
			sock := socketPath(t)
			d := e.startFrontServe(sock)
			front, fallbacks := recordingFront(t)
			var r result
			if tt.fallback {
				r = e.front(front, sock, tt.stdin, tt.args...)
				if got := fallbacksRun(t, fallbacks); len(got) != 1 {
					t.Errorf("the full sendmail ran with %q, want once", got)
				}
			} else {
				r = viaDaemon(t, fallbacks, func() result { return e.front(front, sock, tt.stdin, tt.args...) })
			}
			if r.code != tt.code || tt.stderr == "" && r.stderr != "" || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.stderr)
			}
			if tt.fallback {
				// With the real full sendmail beside it, the front
				// answers as that one does.
				r = e.front(frontBinary(t), sock, tt.stdin, tt.args...)
			}
			// The full sendmail's answer to the same message.
			full := newEnv(t, tt.extra).run(tt.stdin, tt.args...)
			if !sameAnswer(r, full) {
				t.Errorf("through the front: exit %d %q; the full sendmail: exit %d %q", r.code, r.stderr, full.code, full.stderr)
			}
			if tt.relayed > 0 {
				msgs := e.sink.WaitFor(t, tt.relayed, 30*time.Second)
				if msgs[0].From != "orders@shop1.example" || !strings.Contains(header(msgs[0].Data), "Subject: Your order 1001 at Shop One\r\n") {
					t.Errorf("relayed from <%s>:\n%s", msgs[0].From, header(msgs[0].Data))
				}
			}
			// The daemon relays after it answers: stopped, it has relayed
			// all it will.
			d.stop()
			if n := len(e.sink.Messages()); n != tt.relayed {
				t.Errorf("%d relayed, want %d", n, tt.relayed)
			}
			if q := e.queue(); len(q) != 0 {
				t.Errorf("%d left in the queue", len(q))
			}
			if tt.relayed > 0 && !strings.Contains(d.log.String(), "action=queued for relay") {
				t.Errorf("the daemon did not log the message it relayed:\n%s", tail(d.log.String(), 3000))
			}
		})
	}
}

// TestFrontSpamRun: with max_spam 3 and hold on, five spam messages
// through the front to spamrun serve are held, held, held, then refused
// at the trip and after it, with the full sendmail's statuses and lines;
// nothing reaches the relay but the DSNs of the three held, which the
// trip bounces; the store counts the run as the full sendmail's does.
func TestFrontSpamRun(t *testing.T) {
	const maxSpam, extra = 3, 2
	policy := fmt.Sprintf("[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = \"15m\"\n", maxSpam)
	e := newEnv(t, policy)
	full := newEnv(t, policy)
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front, fallbacks := recordingFront(t)
	args := []string{"-t", "-i", "-fnoreply@shop1.example"}
	for i := range maxSpam + extra {
		spam := string(tagged(fmt.Sprintf("spam-%d", i), spamruntest.GuestbookSpam("shop1.example", i)))
		r := viaDaemon(t, fallbacks, func() result { return e.front(front, sock, spam, args...) })
		want := full.run(spam, args...)
		if !sameAnswer(r, want) {
			t.Errorf("spam %d: exit %d %q; the full sendmail: exit %d %q", i, r.code, r.stderr, want.code, want.stderr)
		}
		switch {
		case i < maxSpam && r.code != 0:
			t.Errorf("spam %d: exit %d %q, want 0: held", i, r.code, r.stderr)
		case i >= maxSpam && r.code != 69:
			t.Errorf("spam %d: exit %d %q, want 69", i, r.code, r.stderr)
		case i >= maxSpam:
			wantRefusal(t, r.stderr)
		}
	}
	r := viaDaemon(t, fallbacks, func() result { return e.front(front, sock, hamMessage, "-t", "-i") })
	if r.code != 69 {
		t.Errorf("ham after the trip: exit %d %q, want 69", r.code, r.stderr)
	}
	wantRefusal(t, r.stderr)
	// The runner of spamrun serve sends the DSNs the trip queued.
	if !waitFor(30*time.Second, func() bool { return len(e.queue()) == 0 }) {
		t.Errorf("still queued after 30s: %d", len(e.queue()))
	}
	d.stop()
	c := e.take()
	if len(c.relayed) != 0 {
		t.Errorf("relayed: %v", c.relayed)
	}
	for i := range maxSpam + extra {
		seq := fmt.Sprintf("spam-%d", i)
		switch b := c.bounced[seq]; {
		case i < maxSpam && (b == nil || !b.Spam || b.DSN == "" || b.Incident == ""):
			t.Errorf("%s not bounced: %+v", seq, b)
		case i < maxSpam && c.dsns[seq] != 1:
			t.Errorf("%s: %d DSNs at the relay, want 1", seq, c.dsns[seq])
		case i >= maxSpam && c.places(seq) != 0:
			t.Errorf("refused %s is in the spool or relayed", seq)
		}
	}
	if n := checkDSNs(t, c.dsnMsgs, "noreply@shop1.example"); n != maxSpam {
		t.Errorf("%d DSNs, want %d", n, maxSpam)
	}
	count := func(env *testEnv) string {
		st := env.runCmd(exec.Command(spamrunBinary(t), "status", "shop1"), "")
		if m := spamCountRE.FindString(st.stdout); m != "" {
			return m
		}
		t.Errorf("spamrun status shop1: exit %d, no count:\n%s%s", st.code, st.stdout, st.stderr)
		return ""
	}
	if got, want := count(e), count(full); got != want || !strings.Contains(got, fmt.Sprintf("%d recipients", maxSpam+1)) {
		t.Errorf("through the daemon the store counts %q; through the full sendmail %q, want %d", got, want, maxSpam+1)
	}
}

// TestFrontFallsBack: without a daemon, with a socket no daemon answers
// on, and with a daemon whose configuration changed, the front runs the
// full sendmail, which takes the message exactly once.
func TestFrontFallsBack(t *testing.T) {
	check := func(t *testing.T, e *testEnv, r result) {
		t.Helper()
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		msgs := e.sink.Messages()
		if len(msgs) != 1 || seqOf(msgs[0].Data) != "fallback" {
			t.Errorf("%d messages relayed, want the one", len(msgs))
		}
		if q := e.queue(); len(q) != 0 {
			t.Errorf("%d left in the queue", len(q))
		}
	}
	msg := string(tagged("fallback", []byte(hamMessage)))

	t.Run("no daemon", func(t *testing.T) {
		e := newEnv(t, "")
		check(t, e, e.front(frontBinary(t), socketPath(t), msg, "-t", "-i"))
	})

	t.Run("a listener that never accepts", func(t *testing.T) {
		e := newEnv(t, "")
		sock := socketPath(t)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		check(t, e, e.front(frontBinary(t), sock, msg, "-t", "-i"))
	})

	t.Run("a listener whose backlog is full", func(t *testing.T) {
		e := newEnv(t, "")
		sock := socketPath(t)
		// A daemon that stopped accepting: a backlog of none, taken by
		// one connection that is never accepted.
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Listen(fd, 0); err != nil {
			t.Fatal(err)
		}
		first, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		// Bounded: a front blocked in connect is killed and fails the test.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := e.frontCmd(frontBinary(t), sock, "-t", "-i")
		cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
		cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+e.config, "SPAMRUN_SENDMAIL_SOCKET="+sock)
		check(t, e, runCaptured(t, cmd, msg))
	})

	t.Run("a listener that reads and never answers", func(t *testing.T) {
		e := newEnv(t, "")
		sock := socketPath(t)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		read := make(chan []byte, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				read <- nil
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			b, _ := io.ReadAll(c) // until the front gives up and exits
			read <- b
		}()
		check(t, e, e.front(frontBinary(t), sock, msg, "-t", "-i"))
		if b := <-read; !strings.HasPrefix(string(b), "SPAMRUN-SENDMAIL 1\n") || strings.Contains(string(b), "fallback") {
			t.Errorf("the listener read %q: want the request alone", b)
		}
	})

	t.Run("the configuration changed", func(t *testing.T) {
		e := newEnv(t, "")
		sock := socketPath(t)
		d := e.startFrontServe(sock)
		e.appendConfig("# changed\n")
		r := e.front(frontBinary(t), sock, msg, "-t", "-i")
		// Stopped, the daemon has relayed whatever it took.
		d.stop()
		check(t, e, r)
		if !strings.Contains(d.log.String(), "changed since spamrun serve started") {
			t.Errorf("the daemon did not hand the message back for its configuration:\n%s", tail(d.log.String(), 3000))
		}
	})

	t.Run("mailq and -bp", func(t *testing.T) {
		e := newEnv(t, "")
		sock := socketPath(t)
		e.startFrontServe(sock)
		front := frontBinary(t)
		if r := e.run(string(spamruntest.GuestbookSpam("shop1.example", 1)), "-t", "-i", "-fnoreply@shop1.example"); r.code != 0 {
			t.Fatalf("spam: exit %d %q", r.code, r.stderr)
		}
		mailq := filepath.Join(t.TempDir(), "mailq")
		if err := os.Symlink(front, mailq); err != nil {
			t.Fatal(err)
		}
		for _, r := range []result{e.front(mailq, sock, ""), e.front(front, sock, "", "-bp")} {
			if r.code != 0 || !strings.Contains(r.stdout, "noreply@shop1.example") || !strings.Contains(r.stdout, "held until") || !strings.Contains(r.stdout, "in 1 Request.") {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		}
	})

	t.Run("-bs", func(t *testing.T) {
		e := newEnv(t, "")
		sock := socketPath(t)
		d := e.startFrontServe(sock)
		dialogue := strings.Join([]string{
			"EHLO web1.example.net",
			"MAIL FROM:<orders@shop1.example>",
			"RCPT TO:<customer@example.org>",
			"DATA",
			"X-Test-Seq: fallback\r\nSubject: x\r\n\r\nHello.\r\n.",
			"QUIT",
		}, "\r\n") + "\r\n"
		r := e.front(frontBinary(t), sock, dialogue, "-bs")
		if !strings.Contains(r.stdout, "\r\n250 ") || !strings.Contains(r.stdout, "221") {
			t.Errorf("-bs said:\n%s", r.stdout)
		}
		d.stop()
		check(t, e, result{code: r.code, stderr: r.stderr})
		if strings.Contains(d.log.String(), "action=queued for relay") {
			t.Errorf("the daemon took the -bs message")
		}
	})
}

// TestFrontPHPMail: PHP's mail() with sendmail_path set to the front
// hands the message to spamrun serve, which relays it; the full sendmail
// never runs.
func TestFrontPHPMail(t *testing.T) {
	e := newEnv(t, "")
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front, fallbacks := recordingFront(t)
	dir := t.TempDir()
	writeFile(t, dir, "mail.json", `{"to":"customer@example.org","subject":"Your order 1001","message":"Thank you for your order.\n","headers":"From: Shop One <orders@shop1.example>","params":"-forders@shop1.example"}`, 0o644)
	script := writeFile(t, dir, "contact.php", phpMailScript, 0o644)
	r := viaDaemon(t, fallbacks, func() result {
		cmd := phpCmd(t, front+" -t -i", script)
		cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+e.config, "SPAMRUN_SENDMAIL_SOCKET="+sock)
		return runCaptured(t, cmd, "")
	})
	wantMailReturned(t, r, true)
	msgs := e.sink.WaitFor(t, 1, 30*time.Second)
	wantEnvelope(t, msgs[0], "orders@shop1.example", "customer@example.org")
	if h := header(msgs[0].Data); !strings.Contains(h, "Subject: Your order 1001\r\n") || !strings.Contains(h, "From: Shop One <orders@shop1.example>\r\n") {
		t.Errorf("relayed header:\n%s", h)
	}
	d.stop()
	if n := len(e.sink.Messages()); n != 1 {
		t.Errorf("%d relayed, want 1", n)
	}

	// With the relay down the message stays in the spool, with the
	// evidence of the PHP process the full sendmail records.
	evidence := func(e *testEnv, sendmailPath string, env ...string) (spamrun.Evidence, string) {
		t.Helper()
		dir := t.TempDir()
		writeFile(t, dir, "mail.json", `{"to":"customer@example.org","subject":"Your order 1001","message":"Thank you for your order.\n","headers":"From: Shop One <orders@shop1.example>"}`, 0o644)
		script := writeFile(t, dir, "contact.php", phpMailScript, 0o644)
		run := func() result {
			cmd := phpCmd(t, sendmailPath+" -t -i", script, "mail.add_x_header=1")
			cmd.Env = append(append(os.Environ(), "SPAMRUN_CONFIG="+e.config), env...)
			return runCaptured(t, cmd, "")
		}
		if len(env) > 0 {
			wantMailReturned(t, viaDaemon(t, fallbacks, run), true)
		} else {
			wantMailReturned(t, run(), true)
		}
		if !waitFor(30*time.Second, func() bool { q := e.queue(); return len(q) == 1 && q[0].Attempts > 0 }) {
			t.Fatalf("queue: %+v, want the message tried once", e.queue())
		}
		return e.queue()[0].Evidence, script
	}
	e2, e3 := newEnv(t, ""), newEnv(t, "")
	e2.setRelay(spamruntest.FreeAddr(t))
	e3.setRelay(spamruntest.FreeAddr(t))
	sock2 := socketPath(t)
	e2.startFrontServe(sock2)
	got, script := evidence(e2, front, "SPAMRUN_SENDMAIL_SOCKET="+sock2)
	want, wantScript := evidence(e3, sendmailBin)
	dir, err := filepath.EvalSymlinks(filepath.Dir(script))
	if err != nil {
		t.Fatal(err)
	}
	if got.Script != scriptOwner(t, script)+":contact.php" || got.Cwd != dir || got.UID != os.Getuid() || got.Door != "sendmail" {
		t.Errorf("evidence through the daemon: %+v", got)
	}
	if got.File == nil || want.File == nil || got.File.Path != script || want.File.Path != wantScript {
		t.Errorf("script file through the daemon %+v, by the full sendmail %+v", got.File, want.File)
	}
	if len(got.Command) == 0 || len(want.Command) == 0 || got.Command[0] != want.Command[0] || len(got.Command) != len(want.Command) {
		t.Errorf("command through the daemon %q, by the full sendmail %q", got.Command, want.Command)
	}
}

// TestFrontLeavesStdinAsItWas: the daemon reads the website's standard
// input through the descriptor the front passed, which shares its open
// file with whatever else holds that input, such as the shell of a
// terminal; when the front exits, the input blocks as it did before.
func TestFrontLeavesStdinAsItWas(t *testing.T) {
	e := newEnv(t, "")
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front, fallbacks := recordingFront(t)
	var flags uintptr
	r := viaDaemon(t, fallbacks, func() result {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		// Blocking, so not in the runtime's poller: its flags stay its
		// own.
		r, w := os.NewFile(uintptr(p[0]), "stdin"), os.NewFile(uintptr(p[1]), "writer")
		defer r.Close()
		if _, err := w.WriteString(hamMessage); err != nil {
			t.Fatal(err)
		}
		w.Close()
		cmd := e.frontCmd(front, sock, "-t", "-i")
		cmd.Stdin = r
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		x, err := exitOf(cmd.Run(), "")
		if err != nil {
			t.Fatal(err)
		}
		var errno syscall.Errno
		if flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, uintptr(p[0]), syscall.F_GETFL, 0); errno != 0 {
			t.Fatal(errno)
		}
		return result{code: x.code, stdout: out.String(), stderr: errOut.String()}
	})
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d %q", r.code, r.stderr)
	}
	if flags&syscall.O_NONBLOCK != 0 {
		t.Errorf("the daemon left the website's standard input non-blocking")
	}
	e.sink.WaitFor(t, 1, 30*time.Second)
	d.stop()
}

// TestFrontHandoffLimit: while spamrun serve reads 64 messages from
// websites that write slowly, the next front runs the full sendmail,
// which takes its message; the 64 are accepted once their websites
// finish.
func TestFrontHandoffLimit(t *testing.T) {
	const limit = 64
	e := newEnv(t, "")
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front, fallbacks := recordingFrontThen(t, fmt.Sprintf("exec %s \"$@\"", sendmailBin))
	pipes := func() int { return daemonPipes(t, d) }
	before := pipes()
	type slow struct {
		cmd  *exec.Cmd
		w    *os.File
		seq  string
		done chan struct{}
	}
	var slows []*slow
	defer func() {
		for _, s := range slows {
			s.w.Close()
			<-s.done
		}
	}()
	// One at a time, each taken by the daemon before the next starts; one
	// the daemon did not answer in time ran the recording sendmail, and
	// another takes its place.
	slowFront, _ := recordingFront(t)
	for started := 0; len(slows) < limit; started++ {
		if started == limit+16 {
			t.Fatalf("%d of %d fronts ran the full sendmail", started-len(slows), started)
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := e.frontCmd(slowFront, sock, "-t", "-i")
		cmd.Stdin = r
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		s := &slow{cmd: cmd, w: w, seq: fmt.Sprintf("slow-%02d", started), done: make(chan struct{})}
		go func() {
			s.cmd.Wait()
			close(s.done)
		}()
		// The first line now: the daemon begins to read.
		fmt.Fprintf(w, "X-Test-Seq: %s\n", s.seq)
		exited := func() bool {
			select {
			case <-s.done:
				return true
			default:
				return false
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for !exited() && pipes()-before != len(slows)+1 {
			if time.Now().After(deadline) {
				t.Fatalf("spamrun serve holds %d websites' input, want %d", pipes()-before, len(slows)+1)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if exited() {
			t.Logf("%s ran the full sendmail (exit %d)", s.seq, s.cmd.ProcessState.ExitCode())
			w.Close()
			continue
		}
		slows = append(slows, s)
	}
	r := e.front(front, sock, string(tagged("over", []byte(hamMessage))), "-t", "-i")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("over the limit: exit %d %q", r.code, r.stderr)
	}
	if got := fallbacksRun(t, fallbacks); len(got) != 1 {
		t.Errorf("the full sendmail ran %d times, want once: %q", len(got), got)
	}
	for _, s := range slows {
		s.w.WriteString(hamMessage)
		s.w.Close()
	}
	for _, s := range slows {
		<-s.done
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s: exit %d", s.seq, code)
		}
	}
	e.sink.WaitFor(t, limit+1, 60*time.Second)
	d.stop()
	c := e.take()
	for _, s := range slows {
		if c.relayed[s.seq] != 1 {
			t.Errorf("%s relayed %d times", s.seq, c.relayed[s.seq])
		}
	}
	if n := len(c.relayed); n != limit+1 {
		t.Errorf("%d messages relayed, want %d", n, limit+1)
	}
	if c.relayed["over"] != 1 {
		t.Errorf("the message over the limit relayed %d times", c.relayed["over"])
	}
	if got := fallbacksRun(t, fallbacks); len(got) != 1 {
		t.Errorf("the full sendmail ran %d times, want once", len(got))
	}
	if !strings.Contains(d.log.String(), fmt.Sprintf("more than %d messages at once", limit)) {
		t.Errorf("the daemon did not log the front it sent back")
	}
}

// TestFrontRunsFullSendmail: with spamrun serve listening, the front runs
// the full sendmail, with the same arguments and its input unread, for
// every command line but a message to submit and when it was installed
// setgid by mistake; the daemon hears nothing of those. A closed standard
// input reads as an empty one.
func TestFrontRunsFullSendmail(t *testing.T) {
	e := newEnv(t, "")
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	for _, args := range [][]string{{"-bp"}, {"-bs"}, {"-q"}, {"-q30m"}, {"-bi"}, {"-I"}, {"-v", "-t", "-i"}, {"-t", "-z"}, {"-bz"}} {
		front, fallbacks := recordingFront(t)
		r := e.front(front, sock, hamMessage, args...)
		if got := fallbacksRun(t, fallbacks); r.code != 70 || len(got) != 1 || got[0] != strings.Join(args, " ") {
			t.Errorf("%q: exit %d, the full sendmail ran with %q", args, r.code, got)
		}
	}

	// Go opens /dev/null for a standard input that is closed at start:
	// the front and the full sendmail read an empty message alike.
	closed := func(bin string) result {
		return runCaptured(t, e.frontCmd("/bin/sh", sock, "-c", `exec "$0" -t -i <&-`, bin), "")
	}
	if r, full := closed(frontBinary(t)), closed(sendmailBin); !sameAnswer(r, full) || r.code != 64 {
		t.Errorf("closed standard input: exit %d %q; the full sendmail: exit %d %q", r.code, r.stderr, full.code, full.stderr)
	}

	front, fallbacks := recordingFront(t)
	nogroup, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(nogroup.Gid)
	if os.Getgid() == gid || os.Getuid() != 0 {
		spamruntest.Missing(t, "root in a group other than nogroup (the front is made setgid nogroup)")
	}
	if err := os.Chown(front, -1, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(front, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if r := e.front(front, sock, hamMessage, "-t", "-i"); r.code != 70 || len(fallbacksRun(t, fallbacks)) != 1 {
		t.Errorf("setgid: exit %d, the full sendmail ran with %q", r.code, fallbacksRun(t, fallbacks))
	}

	d.stop()
	if strings.Contains(d.log.String(), " score=") || strings.Contains(d.log.String(), "handed back") {
		t.Errorf("the daemon heard of a command line the front keeps from it:\n%s", tail(d.log.String(), 3000))
	}
	if n := len(e.sink.Messages()) + len(e.queue()); n != 0 {
		t.Errorf("%d messages relayed or queued", n)
	}
}

// TestFrontAnswersBeforeRelay: spamrun serve answers the front once the
// message is in the spool, not once it is relayed: with a relay that
// does not answer, the front exits 0 and the message waits in the queue.
func TestFrontAnswersBeforeRelay(t *testing.T) {
	e := newEnv(t, "")
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front, fallbacks := recordingFront(t)
	if err := e.sink.Set(spamruntest.SinkDelay(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := viaDaemon(t, fallbacks, func() result {
		return e.front(front, sock, string(tagged("waiting", []byte(hamMessage))), "-t", "-i")
	})
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d %q", r.code, r.stderr)
	}
	q := e.queue()
	if len(q) != 1 || q[0].State != spool.Queued {
		t.Errorf("queue when the front exited: %+v, want the message queued", q)
	}
	if n := len(e.sink.Messages()); n != 0 {
		t.Errorf("%d relayed while the relay does not answer", n)
	}
	// The relay goes down; the message stays for a later pass.
	e.sink.Close()
	d.stop()
	if q := e.queue(); len(q) != 1 || seqOf(e.readSpool(q[0].ID)) != "waiting" {
		t.Errorf("queue after the relay went down: %+v", q)
	}
}

// readSpool returns the message id of e's spool.
func (e *testEnv) readSpool(id string) []byte {
	e.t.Helper()
	s, err := spool.Open(e.spool)
	if err != nil {
		e.t.Fatal(err)
	}
	_, data, err := s.Read(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return data
}

// TestFrontDaemonStops: spamrun serve stopped with SIGTERM, as systemd
// stops and restarts it, finishes the message a front is handing it
// before it exits: the front exits 0 and the message is in the spool or
// relayed, once.
func TestFrontDaemonStops(t *testing.T) {
	e := newEnv(t, "")
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front, fallbacks := recordingFront(t)
	before := daemonPipes(t, d)
	var (
		cmd  *exec.Cmd
		w    *os.File
		done chan struct{}
	)
	for attempt := 1; ; attempt++ {
		r, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd, w, done = e.frontCmd(front, sock, "-t", "-i"), pw, make(chan struct{})
		cmd.Stdin = r
		var errOut strings.Builder
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		go func() {
			cmd.Wait()
			close(done)
		}()
		fmt.Fprintf(w, "X-Test-Seq: stopping\n")
		if !waitFor(30*time.Second, func() bool {
			select {
			case <-done:
				return true
			default:
				return daemonPipes(t, d) == before+1
			}
		}) {
			t.Fatalf("spamrun serve did not take the front's input")
		}
		select {
		case <-done:
			w.Close()
			if attempt == frontAttempts {
				t.Fatalf("%d fronts ran the full sendmail: %q", attempt, fallbacksRun(t, fallbacks))
			}
			continue
		default:
		}
		break
	}
	defer func() {
		w.Close()
		<-done
	}()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The daemon has begun to stop once its socket is gone.
	if !waitFor(30*time.Second, func() bool {
		_, err := os.Stat(sock)
		return os.IsNotExist(err)
	}) {
		t.Fatalf("spamrun serve still has its socket 30s after SIGTERM")
	}
	w.WriteString(hamMessage)
	w.Close()
	<-done
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the front exited %d after the daemon's SIGTERM, want 0: %v", code, cmd.Stderr)
	}
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatal("spamrun serve did not exit 60s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("spamrun serve exited %d after SIGTERM", code)
	}
	c := e.take()
	if n := c.places("stopping"); n != 1 {
		t.Errorf("the message is in %d places, want 1", n)
	}
}

// daemonPipes returns how many pipes spamrun serve holds open.
func daemonPipes(t *testing.T, d *runnerProc) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}

// TestFrontSameMessage: for the command lines and messages websites send,
// the message spamrun serve relays for a front is the one the full
// sendmail relays, envelope and header, but for what names the moment and
// the spool's ID.
func TestFrontSameMessage(t *testing.T) {
	noHeader := "Subject: Order 7\n\nShipped.\n"
	withDots := "To: a@example.org\nSubject: dots\n\n.leading dot\n..two\n.\nafter\n"
	crlf := strings.ReplaceAll(hamMessage, "\n", "\r\n")
	cases := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"-t -i", []string{"-t", "-i"}, hamMessage},
		{"CRLF", []string{"-t", "-i"}, crlf},
		{"-f joined", []string{"-t", "-i", "-forders@shop1.example"}, hamMessage},
		{"-f apart", []string{"-t", "-i", "-f", "orders@shop1.example"}, hamMessage},
		{"-r", []string{"-t", "-i", "-r", "orders@shop1.example"}, hamMessage},
		{"null sender", []string{"-t", "-i", "-f", ""}, hamMessage},
		{"-F without From", []string{"-i", "-F", "Shop One", "a@example.org"}, noHeader},
		{"-F with From", []string{"-t", "-i", "-F", "Ignored Name"}, hamMessage},
		{"recipients and -t", []string{"-t", "-i", "b@example.net"}, hamMessage},
		{"a list as one argument", []string{"-i", "a@example.org, Bo <b@example.net>"}, noHeader},
		{"dots without -i", []string{"-t"}, withDots},
		{"-oi", []string{"-t", "-oi"}, withDots},
		{"PHP's options", []string{"-t", "-i", "-odi", "-oem", "-B8BITMIME", "-FCronDaemon"}, hamMessage},
		{"Bcc", []string{"-t", "-i"}, "To: a@example.org\nBcc: hidden@example.net\nSubject: x\n\nbody\n"},
		{"8-bit", []string{"-t", "-i"}, "To: a@example.org\nSubject: Grüße\nContent-Type: text/plain; charset=utf-8\n\nÄpfel und Birnen\n"},
	}
	e, full := newEnv(t, ""), newEnv(t, "")
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front, fallbacks := recordingFront(t)
	for i, c := range cases {
		seq := fmt.Sprintf("same-%02d", i)
		stdin := string(tagged(seq, []byte(c.stdin)))
		r := viaDaemon(t, fallbacks, func() result { return e.front(front, sock, stdin, c.args...) })
		want := full.run(stdin, c.args...)
		if !sameAnswer(r, want) || r.code != 0 {
			t.Errorf("%s: exit %d %q; the full sendmail: exit %d %q", c.name, r.code, r.stderr, want.code, want.stderr)
		}
	}
	e.sink.WaitFor(t, len(cases), 30*time.Second)
	d.stop()
	got, wantMsgs := bySeq(t, e.sink.Messages()), bySeq(t, full.sink.Messages())
	for i, c := range cases {
		seq := fmt.Sprintf("same-%02d", i)
		g, w := got[seq], wantMsgs[seq]
		if g == nil || w == nil {
			t.Errorf("%s: relayed through the daemon %v, by the full sendmail %v", c.name, g != nil, w != nil)
			continue
		}
		if g.From != w.From || strings.Join(g.To, ",") != strings.Join(w.To, ",") {
			t.Errorf("%s: envelope <%s> %q through the daemon, <%s> %q by the full sendmail", c.name, g.From, g.To, w.From, w.To)
		}
		if gn, wn := normalized(g.Data), normalized(w.Data); gn != wn {
			t.Errorf("%s: through the daemon\n%s\nby the full sendmail\n%s", c.name, gn, wn)
		}
	}
}

func bySeq(t *testing.T, msgs []spamruntest.SinkMessage) map[string]*spamruntest.SinkMessage {
	t.Helper()
	m := map[string]*spamruntest.SinkMessage{}
	for i := range msgs {
		seq := seqOf(msgs[i].Data)
		if m[seq] != nil {
			t.Errorf("%s relayed twice", seq)
		}
		m[seq] = &msgs[i]
	}
	return m
}

var momentRE = regexp.MustCompile(`(?m)^(Date|Message-ID): .*\r\n|; [A-Z][a-z]{2}, .*\r\n|id [0-9A-Z.\-]+|\d{8}T\d{6}\.\d+-[0-9A-F]+`)

// normalized is a relayed message without what names the moment or the
// spool's ID.
func normalized(data []byte) string {
	return momentRE.ReplaceAllString(string(data), "…")
}
