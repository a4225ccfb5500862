package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/dsn"

	"github.com/spamrun/spamrun/queue"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"

	"github.com/spamrun/spamrun/internal/syncbuf"
)

// The end-to-end tests of the queue run the operator's runner, spamrun
// queue run, as its own process next to the sendmail processes, as a host
// runs it under systemd.

var (
	spamrunOnce sync.Once
	spamrunBin  string
	spamrunErr  error
)

// spamrunBinary builds the operator command once per test binary. It goes
// next to the sendmail binary, whose directory TestMain removes.
func spamrunBinary(t testing.TB) string {
	t.Helper()
	spamrunOnce.Do(func() {
		spamrunBin = filepath.Join(filepath.Dir(sendmailBin), "spamrun")
		out, err := exec.Command("go", "build", "-o", spamrunBin, "../cmd/spamrun").CombinedOutput()
		if err != nil {
			spamrunErr = fmt.Errorf("building spamrun: %v\n%s", err, out)
		}
	})
	if spamrunErr != nil {
		t.Fatal(spamrunErr)
	}
	return spamrunBin
}

// runnerProc is one spamrun queue run daemon.
type runnerProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	done chan struct{}
	// quiet keeps the log out of a failed test's output, for a runner
	// whose log the test reads itself.
	quiet bool
}

// runnerInterval is the runner's longest sleep between passes: short, so
// that a message spooled just after a pass does not wait for long.
const runnerInterval = "1s"

// startRunner starts the queue runner on e's configuration. With ready it
// returns once the runner listens on its wake-up socket; a test that kills
// runners at random points does not wait.
func (e *testEnv) startRunner(ready bool) *runnerProc {
	e.t.Helper()
	return e.startDaemon(ready, "queue", "run", "-v", "--interval", runnerInterval)
}

// startServe starts spamrun serve, the queue runner with the SMTP
// listener, on e's configuration, with the listener on a free loopback
// port, and returns once both are ready and the listener's address.
// Root's mail counts there as its site's: no user is trusted.
func (e *testEnv) startServe() (*runnerProc, string) {
	e.t.Helper()
	addr := spamruntest.FreeAddr(e.t)
	e.appendConfig(fmt.Sprintf("[smtpd]\nlisten = [%q]\ntrusted_users = []\nmax_connections = 100\n", addr))
	r := e.startDaemon(true, "serve", "-v", "--interval", runnerInterval)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return r, addr
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("spamrun serve does not listen on %s after 30s: %v\n%s", addr, err, r.log.String())
		}
		select {
		case <-r.done:
			e.t.Fatalf("spamrun serve exited at once: %v\n%s", r.cmd.ProcessState, r.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startDaemon runs spamrun with args on e's configuration until the test
// ends; with ready it returns once the queue runner listens on its wake-up
// socket.
func (e *testEnv) startDaemon(ready bool, args ...string) *runnerProc {
	e.t.Helper()
	cmd := exec.Command(spamrunBinary(e.t), args...)
	cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+e.config)
	r := &runnerProc{t: e.t, cmd: cmd, log: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("starting the queue runner: %v", err)
	}
	go func() {
		cmd.Wait()
		close(r.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
		if e.t.Failed() && !r.quiet {
			e.t.Logf("queue runner %d log (tail):\n%s", cmd.Process.Pid, tail(r.log.String(), 6000))
		}
	})
	if ready {
		r.waitReady(e.spool)
	}
	return r
}

// waitReady returns once the runner listens on its wake-up socket, and so
// has its signal handlers: a SIGTERM before that kills it outright.
func (r *runnerProc) waitReady(spoolDir string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !queue.Wake(spoolDir) {
		select {
		case <-r.done:
			r.t.Fatalf("the queue runner exited at once: %v\n%s", r.cmd.ProcessState, r.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the queue runner does not listen on its socket after 30s:\n%s", r.log.String())
		}
	}
}

// stop ends the runner as systemd does, with SIGTERM; it must exit 0.
func (r *runnerProc) stop() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Errorf("SIGTERM to the queue runner: %v", err)
	}
	select {
	case <-r.done:
	case <-time.After(60 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
		r.t.Errorf("the queue runner did not stop within 60s of SIGTERM")
		return
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		r.t.Errorf("the queue runner exited %d (%v) after SIGTERM:\n%s", code, r.cmd.ProcessState, tail(r.log.String(), 4000))
	}
}

// kill ends the runner as a crash does, with SIGKILL.
func (r *runnerProc) kill() {
	r.cmd.Process.Kill()
	<-r.done
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// runOnce runs one pass of the queue, spamrun queue run --once, and
// reports whether it did anything: a pass that finds no due work prints
// only zero counts.
func (e *testEnv) runOnce() (worked bool) {
	e.t.Helper()
	cmd := exec.Command(spamrunBinary(e.t), "queue", "run", "--once")
	r := e.runCmd(cmd, "")
	if r.code != 0 {
		e.t.Errorf("spamrun queue run --once: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	nums := regexp.MustCompile(`\d+`).FindAllString(r.stdout, -1)
	if len(nums) == 0 {
		e.t.Fatalf("spamrun queue run --once said nothing countable: %q", r.stdout)
	}
	for _, n := range nums {
		if n != "0" {
			return true
		}
	}
	return false
}

// drain runs single passes until one finds no due work.
func (e *testEnv) drain() int {
	e.t.Helper()
	for i := 1; i <= 20; i++ {
		if !e.runOnce() {
			return i
		}
	}
	e.t.Errorf("20 passes of spamrun queue run --once still found work")
	return 20
}

// makeDue makes every message in the queue due now, as the retry delay of
// a minute having passed would.
func (e *testEnv) makeDue() {
	e.t.Helper()
	e.updateQueue(func(q *spool.Entry) { q.NextAttempt = time.Time{} })
}

// age moves every queued message's times d into the past, as d passing
// would.
func (e *testEnv) age(d time.Duration) {
	e.t.Helper()
	e.updateQueue(func(q *spool.Entry) {
		q.Received = q.Received.Add(-d)
		if !q.NextAttempt.IsZero() {
			q.NextAttempt = q.NextAttempt.Add(-d)
		}
		if !q.HoldUntil.IsZero() {
			q.HoldUntil = q.HoldUntil.Add(-d)
		}
	})
}

// updateQueue changes every message in the queue with change, each under
// its lock.
func (e *testEnv) updateQueue(change func(*spool.Entry)) {
	e.t.Helper()
	s, err := spool.Open(e.spool)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, q := range e.queue() {
		unlock, err := s.Lock(q.ID)
		if err != nil {
			e.t.Fatalf("%s: %v", q.ID, err)
		}
		change(q)
		err = s.Update(q)
		unlock()
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or timeout passes, and reports which.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Messages carry a sequence header so that each one can be found wherever
// it ends: at the sink, in the queue, in quarantine, or quoted in a DSN.

var seqRE = regexp.MustCompile(`(?m)^X-Test-Seq: (\S+)\r?$`)

func tagged(seq string, msg []byte) []byte {
	nl := "\n"
	if bytes.Contains(msg, []byte("\r\n")) {
		nl = "\r\n"
	}
	return append([]byte("X-Test-Seq: "+seq+nl), msg...)
}

// seqOf returns the sequence header of a message's header section.
func seqOf(data []byte) string {
	h := data
	if i := bytes.Index(h, []byte("\n\n")); i >= 0 {
		h = h[:i]
	}
	if i := bytes.Index(h, []byte("\r\n\r\n")); i >= 0 {
		h = h[:i]
	}
	if m := seqRE.FindSubmatch(h); m != nil {
		return string(m[1])
	}
	return ""
}

// exit is how one sendmail process ended: its status, or killed.
type exit struct {
	code   int
	killed bool
	stderr string
}

// start runs cmd with stdin and, when killAfter > 0, sends it SIGKILL
// after that long. Unlike runCaptured it may be called from any goroutine.
func start(cmd *exec.Cmd, stdin []byte, killAfter time.Duration) (exit, error) {
	cmd.Stdin = bytes.NewReader(stdin)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errOut
	if err := cmd.Start(); err != nil {
		return exit{}, err
	}
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	return exitOf(cmd.Wait(), errOut.String())
}

// exitOf reads how a process ended from the error of its Wait.
func exitOf(err error, stderr string) (exit, error) {
	x := exit{stderr: stderr}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			x.killed = true
			x.code = -1
		} else {
			x.code = ee.ExitCode()
		}
	default:
		return x, err
	}
	return x, nil
}

// sendmailCmd is a sendmail process of e's installation run by uid: the
// test's own user directly, another user through setpriv.
func (e *testEnv) sendmailCmd(bin string, uid int, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if uid == os.Getuid() {
		cmd = exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SPAMRUN_CONFIG="+e.config)
		return cmd
	}
	// Group 0 stands for the group sendmail is installed setgid to: the
	// spool and state belong to it, and the site's user is not in it.
	cmd = exec.Command("setpriv", append([]string{
		"--reuid=" + strconv.Itoa(uid), "--regid=0", "--clear-groups", "--", bin,
	}, args...)...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "SPAMRUN_CONFIG=" + e.config}
	return cmd
}

// newSharedEnv is newEnv in a directory every user can reach, with the
// spool and state created as an installation creates them, group-owned and
// group-writable, so that sendmail run by another user works beside the
// test's own. It returns the path of a sendmail binary such users can run.
func newSharedEnv(t *testing.T, extra string) (*testEnv, string) {
	t.Helper()
	e := newEnv(t, extra)
	// Not t.TempDir: its parents may be reachable by root only.
	prefix, err := os.MkdirTemp("/tmp", "spamrun-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	state, spoolDir := filepath.Join(prefix, "state"), filepath.Join(prefix, "spool")
	for _, d := range []string{prefix, filepath.Join(prefix, "bin"), state, spoolDir,
		filepath.Join(spoolDir, "tmp"), filepath.Join(spoolDir, "queue"), filepath.Join(spoolDir, "quarantine"), filepath.Join(spoolDir, "lock")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o770)
		if d == prefix || d == filepath.Join(prefix, "bin") {
			mode = 0o755
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	e.setKey("state_dir", state)
	e.setKey("spool_dir", spoolDir)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	e.dir, e.spool, e.config = prefix, spoolDir, filepath.Join(prefix, "spamrun.toml")
	if err := os.WriteFile(e.config, cfg, 0o640); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(prefix, "bin", "sendmail")
	data, err := os.ReadFile(sendmailBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return e, bin
}

// appendConfig adds tables to the end of e's configuration.
func (e *testEnv) appendConfig(s string) {
	e.t.Helper()
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + s); err != nil {
		e.t.Fatal(err)
	}
}

// census is where every tagged message ended, by sequence header.
type census struct {
	relayed map[string]int          // at the sink, not a DSN
	dsns    map[string]int          // DSNs at the sink, by the original they quote
	bounced map[string]*spool.Entry // in quarantine, returned with a DSN
	kept    map[string]*spool.Entry // in quarantine without a DSN
	queued  map[string]*spool.Entry // still in the queue: held, queued or undecided
	twice   []string                // in the spool more than once
	// dsnQueued and dsnKept are DSNs still in the queue and DSNs kept in
	// quarantine, by the original they quote.
	dsnQueued, dsnKept map[string]int
	dsnMsgs            []spamruntest.SinkMessage
	// dsnSpooled holds the DSNs still in the queue or kept, as the relay
	// would get them.
	dsnSpooled []spamruntest.SinkMessage
}

// take counts where every message is now. Every spool file must parse.
func (e *testEnv) take() *census {
	e.t.Helper()
	c := &census{
		relayed: map[string]int{}, dsns: map[string]int{},
		bounced: map[string]*spool.Entry{}, kept: map[string]*spool.Entry{}, queued: map[string]*spool.Entry{},
		dsnQueued: map[string]int{}, dsnKept: map[string]int{},
	}
	for _, m := range e.sink.Messages() {
		if m.From == "" {
			c.dsns[quotedSeq(m.Data)]++
			c.dsnMsgs = append(c.dsnMsgs, m)
			continue
		}
		c.relayed[seqOf(m.Data)]++
	}
	s, err := spool.Open(e.spool)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, box := range []struct {
		name string
		list func() ([]*spool.Entry, error)
	}{{"queue", s.List}, {"quarantine", s.Quarantine}} {
		entries, err := box.list()
		if err != nil {
			e.t.Errorf("%s: %v", box.name, err)
		}
		for _, en := range entries {
			full, data, err := s.Read(en.ID)
			if errors.Is(err, spool.ErrNotFound) {
				continue // relayed since the listing
			}
			if err != nil {
				e.t.Errorf("%s: %v", en.ID, err)
				continue
			}
			if full.Kind == spool.KindDSN {
				seq := quotedSeq(data)
				if full.State.Final() {
					c.dsnKept[seq]++
				} else {
					c.dsnQueued[seq]++
				}
				c.dsnSpooled = append(c.dsnSpooled, spamruntest.SinkMessage{To: full.Recipients, Data: data})
				continue
			}
			seq := seqOf(data)
			if seq == "" {
				e.t.Errorf("%s in the %s has no sequence header", en.ID, box.name)
				continue
			}
			var into map[string]*spool.Entry
			switch {
			case box.name == "queue" && !full.State.Final():
				into = c.queued
			case box.name == "quarantine" && full.State == spool.Bounced:
				into = c.bounced
			case box.name == "quarantine" && full.State == spool.Quarantined:
				into = c.kept
			default:
				e.t.Errorf("%s is in the %s in state %s", en.ID, box.name, full.State)
				continue
			}
			if c.bounced[seq] != nil || c.kept[seq] != nil || c.queued[seq] != nil {
				c.twice = append(c.twice, seq)
			}
			into[seq] = full
		}
	}
	return c
}

// places returns how many times the message seq was found, relayed or in
// the spool.
func (c *census) places(seq string) int {
	n := c.relayed[seq]
	for _, m := range []map[string]*spool.Entry{c.bounced, c.kept, c.queued} {
		if m[seq] != nil {
			n++
		}
	}
	return n
}

// seqs returns every sequence header found, relayed or in the spool.
func (c *census) seqs() []string {
	var all []string
	for s := range c.relayed {
		all = append(all, s)
	}
	for _, m := range []map[string]*spool.Entry{c.bounced, c.kept, c.queued} {
		for s := range m {
			all = append(all, s)
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// quotedSeq returns the sequence header of the original a DSN quotes.
func quotedSeq(data []byte) string {
	env, err := enmime.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	for p := env.Root.FirstChild; p != nil; p = p.NextSibling {
		if isQuotedHeader(p.ContentType) {
			return seqOf(p.Content)
		}
	}
	return ""
}

// isQuotedHeader reports whether a DSN's part is the original's header:
// text/rfc822-headers, or message/global-headers when it holds UTF-8
// (RFC 6533 section 6.4).
func isQuotedHeader(contentType string) bool {
	return contentType == "text/rfc822-headers" || contentType == "message/global-headers"
}

// dsnWant is what a DSN must say.
type dsnWant struct {
	status  string // every recipient's Status, when set
	article bool   // the explanation links the article
	diag    string // in every Diagnostic-Code, when set
	owns    func(addr string) bool
}

// checkDSN checks one DSN at the sink as a receiving program reads it, and
// returns the recipients it reports.
func checkDSN(t *testing.T, m spamruntest.SinkMessage, want dsnWant) []string {
	t.Helper()
	if m.From != "" {
		t.Errorf("DSN from <%s>, want the null sender", m.From)
	}
	if len(m.To) != 1 || m.To[0] == "" || want.owns != nil && !want.owns(m.To[0]) {
		t.Errorf("DSN to %q: not one address the site owns", m.To)
	}
	env, err := enmime.ReadEnvelope(bytes.NewReader(m.Data))
	if err != nil {
		t.Errorf("enmime cannot read the DSN: %v\n%s", err, m.Data)
		return nil
	}
	if got := env.GetHeader("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("DSN Auto-Submitted = %q", got)
	}
	rep, err := dsn.ParseReport(env.Root)
	if err != nil || rep == nil {
		t.Errorf("dsn.ParseReport: %v (%s)\n%s", err, env.Root.ContentType, m.Data)
		return nil
	}
	var rcpts []string
	for _, r := range rep.DeliveryStatus.RecipientDSNs {
		// "rfc822; addr", or "utf-8; addr" for an address in UTF-8 (RFC 6533).
		_, addr, _ := strings.Cut(r.Get("Final-Recipient"), ";")
		rcpts = append(rcpts, strings.TrimSpace(addr))
		if !dsn.IsFailed(r) {
			t.Errorf("DSN Action = %q, want failed", r.Get("Action"))
		}
		if s := r.Get("Status"); want.status != "" && s != want.status {
			t.Errorf("DSN Status = %q, want %s", s, want.status)
		}
		if d := r.Get("Diagnostic-Code"); want.diag != "" && !strings.Contains(d, want.diag) {
			t.Errorf("DSN Diagnostic-Code = %q, want it to quote %q", d, want.diag)
		}
	}
	if len(rcpts) == 0 {
		t.Errorf("DSN reports no recipient:\n%s", m.Data)
	}
	if want.article && !strings.Contains(rep.Explanation.Text, testArticle) {
		t.Errorf("DSN explanation does not link %s:\n%s", testArticle, rep.Explanation.Text)
	}
	// Never in reply to a bounce or automatic mail: the quoted original is
	// a submission, not a report.
	for p := env.Root.FirstChild; p != nil; p = p.NextSibling {
		if isQuotedHeader(p.ContentType) {
			h := strings.ToLower(string(p.Content))
			if strings.Contains(h, "multipart/report") || strings.Contains(h, "auto-submitted:") {
				t.Errorf("DSN in reply to automatic mail:\n%s", p.Content)
			}
		}
	}
	return rcpts
}
