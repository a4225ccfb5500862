package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

var (
	soakFor   = flag.Duration("soak", 0, "how long TestSoak submits mail (default 60s with CI=true, 10s otherwise)")
	soakSeed  = flag.Uint64("soak.seed", 0, "repeat the messages and faults of a TestSoak run (default: a new seed)")
	soakTable = flag.String("soak.table", "", "also write TestSoak's table to this file, in Markdown")
)

const (
	// soakWorkers submit at once, each one message after another.
	soakWorkers = 4
	// soakLifetime is the queue lifetime: short, so that whatever the
	// faults left deferred is returned soon after they end.
	soakLifetime = 20 * time.Second
	// soakSpoolSize is the tmpfs the spool lives on: room for the
	// quarantine of ten minutes, which keeps every message returned or
	// kept. It takes memory only as it fills.
	soakSpoolSize = 1 << 30
	// bsMaxRecipients is what sendmail -bs takes in one transaction (its
	// server's MaxRecipients).
	bsMaxRecipients = 1000
)

// TestSoak submits random mail from several websites through every door
// of sendmail while faults are injected at random: the queue runner and
// sendmail processes are killed, the relay goes down, refuses with 4xx,
// 5xx or 452 past a number of recipients, the spool's disk fills up and
// Redis, the state store, goes away and comes back with what it had
// written. When the faults end and the queue has drained, it checks that
// nothing accepted was lost, stuck or miscounted:
//
//  1. every message sendmail accepted ends relayed, bounced with a DSN,
//     kept in quarantine or expired, never still queued;
//  2. every recipient of an accepted message is accounted for once:
//     delivered, or named in a DSN or a kept message;
//  3. every file in the spool's queue and quarantine is listed by
//     spamrun queue list;
//  4. the state store counts each spam-marked message once, once per
//     envelope recipient, as the logs of sendmail and the runner decided
//     it, and no site had more spam-marked recipients let through than its
//     max_spam.
//
// Submissions that did not exit 0 need not be delivered, but whatever of
// them reached the spool obeys the same rules. The choices are seeded: the
// seed is logged and -soak.seed repeats them, though not the timing of the
// processes. -soak sets the duration; -soak.table writes the table of what
// happened, for README:
//
//	go test ./sendmail -run Soak -soak 10m -timeout 12m -v -soak.table soak.md
func TestSoak(t *testing.T) {
	if os.Geteuid() != 0 {
		spamruntest.Missing(t, "root (the soak submits as several website users and keeps the spool on a tmpfs)")
	}
	spamruntest.NeedCommand(t, "setpriv", "util-linux")
	spamruntest.NeedCommand(t, "useradd", "passwd")
	spamruntest.NeedCommand(t, "mount", "mount")
	dur := *soakFor
	if dur <= 0 {
		dur = 10 * time.Second
		if spamruntest.InCI() {
			dur = time.Minute
		}
	}
	// Setup and the drain after the faults take up to a minute more.
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < dur+90*time.Second {
		t.Fatalf("-soak %v needs a -timeout of at least %v", dur, (dur + 2*time.Minute).Round(time.Minute))
	}
	seed := *soakSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-soak.seed=%d repeats this run's mail and faults)", seed, seed)
	began := time.Now()

	s := newSoak(t, seed)
	s.sup = s.supervise()
	loadEnd := time.Now().Add(dur)
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range soakWorkers {
		wg.Go(func() {
			for time.Now().Before(loadEnd) {
				s.submit(s.gen.message(int(next.Add(1) - 1)))
			}
		})
	}
	s.inject(loadEnd, rand.New(rand.NewPCG(seed, ^uint64(0))))
	wg.Wait()

	s.endFaults()
	sp, err := spool.Open(s.e.spool)
	if err != nil {
		t.Fatal(err)
	}
	var left []*spool.Entry
	settled := waitFor(soakLifetime+20*time.Second, func() bool {
		left, err = sp.List()
		return len(left) == 0 && err == nil
	})
	s.sup.shutdown()
	if !settled {
		s.violation("%v after the faults ended the queue still lists %d messages: %v", soakLifetime+20*time.Second, len(left), err)
	}
	s.check()
	s.report(time.Since(began), dur)
}

// soak is one run: the installation, its websites, what was submitted
// and what the injector did.
type soak struct {
	t     *testing.T
	e     *testEnv
	bin   string // sendmail as the website users run it
	redis *spamruntest.RedisServer
	gen   *soakGen
	seed  uint64
	sup   *supervisor
	// filler fills the spool's tmpfs while the disk is full.
	filler string

	mu         sync.Mutex
	subs       map[string]*soakSub
	procs      map[*os.Process]bool // sendmail processes running
	faults     map[string]int       // injected, by kind
	violations []string
	stats      map[string]int // for the table
}

// soakSub is one submission and how it ended. For -bs, x.code is the
// SMTP code of a refusal and 0 for 250.
type soakSub struct {
	msg  *soakMsg
	size int // with CRLF line endings
	x    exit
}

func newSoak(t *testing.T, seed uint64) *soak {
	redis := spamruntest.StartRedis(t, spamruntest.RedisDurable())
	e, bin := newSharedEnv(t, fmt.Sprintf("max_message_size = %d\nqueue_lifetime = %q\n"+
		"[policy]\nwindow = \"1h\"\nhold_for = \"2s\"\n[store]\nkind = \"redis\"\nurl = %q\n",
		soakMaxSize, soakLifetime.String(), redis.URL()))
	// Site soak1 sends some spam and never trips, so its every count can
	// be compared; soak2 sends a spam run and trips; soak3 sends ham,
	// which the scorer may still mark.
	sites := []*soakSite{
		{name: "soak1", maxSpam: 99_999, spamPercent: 10},
		{name: "soak2", maxSpam: 40, spamPercent: 35},
		{name: "soak3", maxSpam: 10, spamPercent: 0},
	}
	for _, site := range sites {
		site.user = addSiteUser(t, randomName("srs"), site.name)
		e.appendConfig(fmt.Sprintf("[sites.%s]\nuid = %d\ndomains = [%q]\nmax_spam = %d\n", site.name, site.user.UID, site.domain(), site.maxSpam))
	}
	s := &soak{
		t: t, e: e, bin: bin, redis: redis, gen: &soakGen{seed: seed, sites: sites}, seed: seed,
		subs: map[string]*soakSub{}, procs: map[*os.Process]bool{}, faults: map[string]int{}, stats: map[string]int{},
	}
	s.mountSpool()
	return s
}

// mountSpool puts the spool on a tmpfs of its own, which the injector
// fills, with the directories an installation makes.
func (s *soak) mountSpool() {
	t, dir := s.t, s.e.spool
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0770", soakSpoolSize), "tmpfs", dir).CombinedOutput(); err != nil {
		spamruntest.Missing(t, fmt.Sprintf("a tmpfs for the spool (mount: %v: %s)", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	for _, sub := range []string{"tmp", "queue", "quarantine", "lock"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o770); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, sub), 0o770); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	s.filler = filepath.Join(dir, "filler")
}

func (s *soak) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func (s *soak) count(m map[string]int, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[key]++
}

// submit hands one message to sendmail through its door and records how
// that ended.
func (s *soak) submit(m *soakMsg) {
	var (
		x   exit
		err error
	)
	if m.door == doorSMTP {
		x, err = s.dialogue(m)
	} else {
		cmd := s.e.sendmailCmd(s.bin, m.site.user.UID, m.args...)
		var errOut bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(m.data), io.Discard, &errOut
		x, err = exitOf(s.spawn(cmd, nil), errOut.String())
	}
	if err != nil {
		s.violation("%s: %v", m.seq, err)
	}
	// The limit applies to the message with CRLF line endings.
	size := len(m.data) + bytes.Count(m.data, []byte("\n")) - bytes.Count(m.data, []byte("\r\n"))
	sub := &soakSub{msg: m, size: size, x: x}
	m.data = nil // a long run would keep gigabytes
	s.mu.Lock()
	s.subs[m.seq] = sub
	s.mu.Unlock()
}

// spawn runs cmd as a sendmail process the injector may kill, with talk
// speaking to it in between. One still running after a minute is hung.
func (s *soak) spawn(cmd *exec.Cmd, talk func()) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.procs[cmd.Process] = true
	s.mu.Unlock()
	hung := time.AfterFunc(time.Minute, func() {
		s.violation("%q still running after a minute", cmd.Args)
		cmd.Process.Kill()
	})
	if talk != nil {
		talk()
	}
	err := cmd.Wait()
	hung.Stop()
	s.mu.Lock()
	delete(s.procs, cmd.Process)
	s.mu.Unlock()
	return err
}

// dialogue sends m through sendmail -bs as an SMTP client does.
func (s *soak) dialogue(m *soakMsg) (exit, error) {
	cmd := s.e.sendmailCmd(s.bin, m.site.user.UID, "-bs")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return exit{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return exit{}, err
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	var sendErr error
	werr := s.spawn(cmd, func() {
		c := smtp.NewClient(&stdioConn{r: stdout, w: stdin, closed: make(chan struct{})})
		if sendErr = c.Hello("www." + m.site.domain()); sendErr == nil {
			sendErr = c.SendMail(m.sender, m.rcpts, bytes.NewReader(m.data))
		}
		if sendErr == nil {
			c.Quit()
		}
		stdin.Close()
		io.Copy(io.Discard, stdout)
	})
	x, err := exitOf(werr, errOut.String())
	var refused *smtp.SMTPError
	switch {
	case err != nil:
		return x, err
	case x.killed:
	case errors.As(sendErr, &refused):
		x.code = refused.Code
		x.stderr += refused.Error()
	case sendErr != nil:
		return x, fmt.Errorf("sendmail -bs: %v (exit %d, stderr %q)", sendErr, x.code, x.stderr)
	}
	return x, nil
}

// supervisor keeps one queue runner going, as systemd's Restart=always
// does: one that was killed is started again at once, one that exited,
// as it does without its state store, after a second.
type supervisor struct {
	s       *soak
	mu      sync.Mutex
	cur     *runnerProc
	all     []*runnerProc
	killing bool
	stop    chan struct{}
	done    chan struct{}
}

func (s *soak) supervise() *supervisor {
	sup := &supervisor{s: s, stop: make(chan struct{}), done: make(chan struct{})}
	r := s.e.startRunner(true)
	sup.cur, sup.all = r, []*runnerProc{r}
	go func() {
		defer close(sup.done)
		for {
			select {
			case <-sup.stop:
				return
			case <-r.done:
			}
			sup.mu.Lock()
			killed := sup.killing
			sup.killing = false
			sup.mu.Unlock()
			if !killed {
				s.count(s.stats, "runner exit "+strconv.Itoa(r.cmd.ProcessState.ExitCode()))
				select {
				case <-sup.stop:
					return
				case <-time.After(time.Second):
				}
			}
			r = sup.restart()
		}
	}()
	return sup
}

// restart starts the next runner. The check reads the logs of those that
// ended; only the last one's is shown when the test fails.
func (sup *supervisor) restart() *runnerProc {
	r := sup.s.e.startRunner(false)
	sup.mu.Lock()
	defer sup.mu.Unlock()
	sup.cur.quiet = true
	sup.cur, sup.all = r, append(sup.all, r)
	return r
}

// kill kills the runner with SIGKILL, as a crash does, and reports
// whether one was running.
func (sup *supervisor) kill() bool {
	sup.mu.Lock()
	r := sup.cur
	select {
	case <-r.done:
		sup.mu.Unlock()
		return false
	default:
	}
	sup.killing = true
	sup.mu.Unlock()
	r.kill()
	return true
}

// shutdown stops the supervisor and its runner as systemd stops a service.
func (sup *supervisor) shutdown() {
	close(sup.stop)
	<-sup.done
	sup.cur.waitReady(sup.s.e.spool)
	sup.cur.stop()
}

// log is what every runner logged.
func (sup *supervisor) log() string {
	var b strings.Builder
	for _, r := range sup.all {
		b.WriteString(r.log.String())
	}
	return b.String()
}

// relayFaults are the ways the injector makes the relay refuse, each
// drawn with its numbers from the injector's seed.
var relayFaults = []struct {
	kind string
	opt  func(rng *rand.Rand) spamruntest.SinkOption
}{
	{"relay 421 at MAIL", func(*rand.Rand) spamruntest.SinkOption {
		return spamruntest.SinkRejectMail(421, "4.3.2", "shutting down")
	}},
	{"relay 451 at RCPT", func(*rand.Rand) spamruntest.SinkOption {
		return spamruntest.SinkRejectRcptsPast(0, 451, "4.3.0", "try again later")
	}},
	{"relay 550 at RCPT", func(*rand.Rand) spamruntest.SinkOption {
		return spamruntest.SinkRejectRcptsPast(0, 550, "5.1.1", "no such user")
	}},
	{"relay 452 4.5.3 past N recipients", func(rng *rand.Rand) spamruntest.SinkOption {
		return spamruntest.SinkRecipientLimit(1 + rng.IntN(10))
	}},
	{"relay 451 at DATA", func(*rand.Rand) spamruntest.SinkOption {
		return spamruntest.SinkRejectData(451, "4.3.0", "queue file write error")
	}},
	{"relay 554 at DATA", func(*rand.Rand) spamruntest.SinkOption {
		return spamruntest.SinkRejectData(554, "5.6.0", "message content rejected")
	}},
	{"relay closes after N messages", func(rng *rand.Rand) spamruntest.SinkOption {
		return spamruntest.SinkMessagesPerConnection(1 + rng.IntN(3))
	}},
}

// inject injects faults at random until the end of the load. A relay or
// Redis that is down, a relay that refuses and a full disk each last
// between half a second and five seconds, and they overlap.
func (s *soak) inject(until time.Time, rng *rand.Rand) {
	// An episode's start returns the name the fault is counted under, or
	// "" when it did not begin.
	type episode struct {
		start    func() string
		end      func()
		endsAt   time.Time
		underway bool
	}
	episodes := []*episode{
		{start: func() string { s.e.sink.Stop(); return "relay stopped" }, end: func() {
			if err := s.e.sink.Start(); err != nil {
				s.violation("the relay does not come back: %v", err)
			}
		}},
		{start: func() string {
			f := relayFaults[rng.IntN(len(relayFaults))]
			if err := s.e.sink.Set(f.opt(rng)); err != nil {
				s.t.Errorf("relay fault %s: %v", f.kind, err)
				return ""
			}
			return f.kind
		}, end: func() { s.e.sink.Set() }},
		{start: func() string {
			if !s.fillDisk(rng) {
				return ""
			}
			return "spool disk filled"
		}, end: func() { os.Remove(s.filler) }},
		{start: func() string { s.redis.Kill(); return "redis stopped" }, end: func() { s.redis.Start() }},
	}
	for {
		wait := time.Duration(100+rng.IntN(900)) * time.Millisecond
		if time.Until(until) < wait {
			time.Sleep(time.Until(until))
			return
		}
		time.Sleep(wait)
		now := time.Now()
		for _, ep := range episodes {
			if ep.underway && now.After(ep.endsAt) {
				ep.end()
				ep.underway = false
			}
		}
		switch k := rng.IntN(100); {
		case k < 20:
			if s.sup.kill() {
				s.count(s.faults, "queue runner killed")
			}
		case k < 50:
			if s.killSendmail(rng) {
				s.count(s.faults, "sendmail killed")
			}
		default:
			ep := episodes[rng.IntN(len(episodes))]
			if ep.underway {
				break
			}
			if kind := ep.start(); kind != "" {
				ep.underway, ep.endsAt = true, now.Add(time.Duration(500+rng.IntN(4500))*time.Millisecond)
				s.count(s.faults, kind)
			}
		}
	}
}

// killSendmail kills one running sendmail process, if there is one.
func (s *soak) killSendmail(rng *rand.Rand) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	procs := slices.Collect(maps.Keys(s.procs))
	if len(procs) == 0 {
		return false
	}
	return procs[rng.IntN(len(procs))].Kill() == nil
}

// fillDisk fills the spool's tmpfs, then frees up to 256 KiB of it, so
// that a write fails at once or halfway.
func (s *soak) fillDisk(rng *rand.Rand) bool {
	f, err := os.OpenFile(s.filler, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Errorf("filling the spool: %v", err)
		return false
	}
	defer f.Close()
	const chunk = 1 << 20
	size := int64(0)
	for i := 0; i <= soakSpoolSize/chunk; i++ {
		err = syscall.Fallocate(int(f.Fd()), 0, size, chunk)
		if err != nil {
			break
		}
		size += chunk
	}
	if !errors.Is(err, syscall.ENOSPC) {
		s.t.Errorf("filling the spool: %v", err)
	}
	if err := f.Truncate(max(size-int64(rng.IntN(256<<10)), 0)); err != nil {
		s.t.Errorf("filling the spool: %v", err)
	}
	return true
}

// endFaults brings everything back: the relay takes mail, Redis answers,
// the disk has room.
func (s *soak) endFaults() {
	if err := s.e.sink.Set(); err != nil {
		s.t.Fatal(err)
	}
	if err := s.e.sink.Start(); err != nil {
		s.t.Fatalf("the relay does not come back: %v", err)
	}
	s.redis.Start()
	if err := os.Remove(s.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.t.Fatal(err)
	}
	// A spool that stays full is the test's own fault, not one injected.
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.e.spool, &st); err != nil {
		s.t.Fatal(err)
	}
	used := soakSpoolSize - int64(st.Bavail)*st.Bsize
	s.stats["spool MiB used"] = int(used >> 20)
	if used > soakSpoolSize*9/10 {
		s.t.Errorf("the run filled %d MiB of the spool's %d MiB tmpfs: make soakSpoolSize bigger", used>>20, soakSpoolSize>>20)
	}
}

var (
	sendmailDecision = regexp.MustCompile(`(?m)site=(\S+) id=(\S+) from=<.*?> nrcpt=(\d+) size=\d+ score=(-?[0-9.]+) action=(\w+)`)
	runnerDecision   = regexp.MustCompile(`(?m)site=(\S+) id=(\S+) decided score=(-?[0-9.]+) action=(\w+)`)
	receivedID       = regexp.MustCompile(`\AReceived: by [^\r\n]*\r\n\tid ([^;\s]+);`)
	soakMessageID    = regexp.MustCompile(`(s\d+)@soak\.test`)
)

// decision is what the logs say was decided about one message. A message
// decided more than once (which counts it twice) is spam-marked when one
// decision marked it, and refused when the last refused it.
type decision struct {
	score  float64 // the highest logged
	refuse bool
	by     string // "sendmail" or "runner"
}

func (d *decision) add(score float64, refuse bool, by string) {
	if score >= d.score || d.by == "" {
		d.score, d.by = score, by
	}
	d.refuse = refuse
}

// check runs the invariant checker on where everything ended.
func (s *soak) check() {
	t, e := s.t, s.e
	c := e.take()
	s.stats["relayed"], s.stats["bounced"], s.stats["kept"] = 0, 0, 0

	// What was accepted: exit 0, or 250 to -bs; and whatever a killed or
	// failed submission left behind.
	accepted := map[string]*soakSub{}
	found := map[string]bool{}
	for _, seq := range c.seqs() {
		found[seq] = true
	}
	for seq := range c.dsns {
		found[seq] = true
	}
	for seq, sub := range s.subs {
		x := sub.x
		switch {
		case x.killed:
			s.stats["killed"]++
		case x.code == 0:
			s.stats["accepted"]++
		default:
			s.stats[fmt.Sprintf("refused %d", x.code)]++
		}
		// The binary counts what it reads, -bs after dot-unstuffing; near
		// the limit either answer is right.
		over, near := sub.size > soakMaxSize, abs(sub.size-soakMaxSize) < 4096
		switch {
		case x.code == 0 && !x.killed:
			accepted[seq] = sub
			if over && !near {
				s.violation("%s: %d bytes, over max_message_size, accepted", seq, sub.size)
			}
		case x.killed || x.code == 73 || x.code == 75 || x.code == 421 || x.code == 451:
			if found[seq] {
				accepted[seq] = sub
				s.stats["not accepted, yet delivered or spooled"]++
			}
		case x.code == 65 || x.code == 552:
			if !over && !near {
				s.violation("%s: refused as too big (%d), but it has %d bytes: %s", seq, x.code, sub.size, x.stderr)
			}
			fallthrough
		case x.code == 69 || x.code == 550:
			if found[seq] {
				s.violation("%s: refused with %d, yet relayed or in the spool", seq, x.code)
			}
		default:
			s.violation("%s (%s, %d recipients): exit %d %q", seq, sub.msg.door, len(sub.msg.rcpts), x.code, x.stderr)
		}
	}

	if len(accepted) == 0 {
		s.violation("not one of %d messages was accepted", len(s.subs))
	}

	// 1. Every accepted message ended somewhere, and not in the queue.
	for seq, sub := range accepted {
		switch {
		case c.queued[seq] != nil:
			s.violation("%s: still in the queue, %s: %s", seq, c.queued[seq].State, c.queued[seq].LastError)
		case c.places(seq) == 0:
			s.violation("%s: accepted (%s, %d recipients) and lost: not relayed, not in the spool", seq, sub.msg.door, len(sub.msg.rcpts))
		}
		if c.relayed[seq] > 0 {
			s.stats["relayed"]++
		}
		if c.bounced[seq] != nil {
			s.stats["bounced"]++
		}
		if c.kept[seq] != nil {
			s.stats["kept"]++
		}
		if q := c.bounced[seq]; q != nil && strings.Contains(q.Reason, "outlived") || c.kept[seq] != nil && strings.Contains(c.kept[seq].Reason, "outlived") {
			s.stats["expired"]++
		}
	}
	for _, seq := range c.twice {
		s.violation("%s: in the spool twice", seq)
	}
	for seq, n := range c.dsnQueued {
		s.violation("%s: %d DSNs still in the queue", seq, n)
	}

	// 2. Every recipient once: delivered, in a DSN or in a kept message.
	delivered, returned := map[string]map[string]int{}, map[string]map[string]int{}
	add := func(m map[string]map[string]int, seq, rcpt string) {
		if m[seq] == nil {
			m[seq] = map[string]int{}
		}
		m[seq][rcptKey(rcpt)]++
	}
	for _, m := range e.sink.Messages() {
		if m.From == "" {
			continue
		}
		for _, r := range m.To {
			add(delivered, seqOf(m.Data), r)
			s.stats["recipients relayed"]++
		}
	}
	for _, d := range append(c.dsnMsgs, c.dsnSpooled...) {
		seq := quotedSeq(d.Data)
		rcpts := checkDSN(t, d, dsnWant{})
		for _, r := range rcpts {
			add(returned, seq, r)
		}
		if sub := accepted[seq]; sub != nil && bytes.Contains(d.Data, []byte("Status: 5.7.1")) && !strings.HasSuffix(d.To[0], "@"+sub.msg.site.domain()) {
			s.violation("%s: the DSN of a spam run went to <%s>, which %s does not own", seq, d.To[0], sub.msg.site.name)
		}
	}
	s.stats["DSNs"] = len(c.dsnMsgs) + len(c.dsnSpooled)
	duplicates := 0
	for seq, sub := range accepted {
		if c.queued[seq] != nil {
			continue // reported above
		}
		want := map[string]bool{}
		for _, r := range sub.msg.rcpts {
			want[rcptKey(r)] = true
		}
		kept := map[string]bool{}
		if k := c.kept[seq]; k != nil {
			for _, r := range k.Recipients {
				kept[rcptKey(r)] = true
			}
		}
		var missing, twice []string
		for r := range want {
			n := delivered[seq][r] + returned[seq][r]
			if kept[r] {
				n++
			}
			s.stats["recipients accepted"]++
			switch {
			case n == 0:
				missing = append(missing, r)
			case n > 1:
				twice = append(twice, fmt.Sprintf("<%s> delivered %d, returned %d, kept %v", r, delivered[seq][r], returned[seq][r], kept[r]))
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			s.violation("%s: %d of its %d recipients neither delivered, nor in a DSN, nor kept, such as <%s>", seq, len(missing), len(want), missing[0])
		}
		if len(twice) > 0 {
			duplicates++
			slices.Sort(twice)
			t.Logf("%s: %d recipients got it twice, such as %s", seq, len(twice), twice[0])
		}
		for _, m := range []map[string]int{delivered[seq], returned[seq]} {
			for r := range m {
				if !want[r] {
					s.violation("%s: <%s> got it or its DSN, but is no recipient of it", seq, r)
				}
			}
		}
	}
	// A process killed after the relay took a message and before the
	// spool forgot it, or a relay that went down after taking the data
	// and before answering, makes the relay get it twice (RFC 5321
	// section 6.1); nothing else may.
	s.stats["duplicates"] = duplicates
	if excused := s.faults["queue runner killed"] + s.faults["sendmail killed"] + s.faults["relay stopped"]; duplicates > excused {
		s.violation("%d messages reached a recipient twice, more than the %d kills and relay stops explain", duplicates, excused)
	}
	acceptedSeqs := map[string]bool{}
	for seq := range accepted {
		acceptedSeqs[seq] = true
	}
	checkTmp(t, e, c, acceptedSeqs)

	// 3. No file in the spool that the operator's listing leaves out.
	s.checkListed()

	// 4. The store's counts against the logs.
	s.checkCounts(c, accepted)
}

// rcptKey is how the check compares recipients: without case, and
// without the quotes of a quoted local part, which the sink's SMTP parser
// takes off as it reads RCPT TO.
func rcptKey(addr string) string {
	return strings.ToLower(strings.ReplaceAll(addr, `"`, ""))
}

// checkListed compares the files in the queue and the quarantine with
// spamrun queue list --all.
func (s *soak) checkListed() {
	r := s.e.runCmd(exec.Command(spamrunBinary(s.t), "queue", "list", "--json", "--all"), "")
	if r.code != 0 {
		s.violation("spamrun queue list --json --all: exit %d: %s", r.code, r.stderr)
	}
	var entries []*spool.Entry
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		s.t.Fatalf("spamrun queue list --json --all: %v\n%s", err, r.stdout)
	}
	listed := map[string]bool{}
	for _, en := range entries {
		listed[en.ID] = true
	}
	for _, box := range []string{"queue", "quarantine"} {
		files, err := os.ReadDir(filepath.Join(s.e.spool, box))
		if err != nil {
			s.t.Fatal(err)
		}
		for _, f := range files {
			if !listed[f.Name()] {
				s.violation("%s/%s is not listed by spamrun queue list", box, f.Name())
			}
		}
		s.stats["files in "+box] = len(files)
	}
}

// checkCounts checks the state store against the decisions sendmail and
// the runner logged. sendmail -bs logs only to syslog, so its decisions
// are known from the store alone.
func (s *soak) checkCounts(c *census, accepted map[string]*soakSub) {
	t := s.t
	// Spool IDs to messages, for the runner's log.
	idSeq := map[string]string{}
	for _, m := range []map[string]*spool.Entry{c.queued, c.bounced, c.kept} {
		for seq, en := range m {
			idSeq[en.ID] = seq
		}
	}
	for _, m := range s.e.sink.Messages() {
		if id := receivedID.FindSubmatch(m.Data); id != nil {
			idSeq[string(id[1])] = seqOf(m.Data)
		}
	}
	decided := map[string]decision{}
	history := map[string][]string{} // every decision logged, for the violations
	for seq, sub := range s.subs {
		for _, l := range sendmailDecision.FindAllStringSubmatch(sub.x.stderr, -1) {
			idSeq[l[2]] = seq
			if l[5] == "undecided" {
				continue
			}
			score, _ := strconv.ParseFloat(l[4], 64)
			d := decided[seq]
			d.add(score, l[5] == "refused", "sendmail")
			decided[seq] = d
			history[seq] = append(history[seq], "sendmail "+l[0])
			if n, _ := strconv.Atoi(l[3]); n != len(sub.msg.rcpts) {
				s.violation("%s: sendmail logged nrcpt=%d, the envelope has %d", seq, n, len(sub.msg.rcpts))
			}
		}
	}
	runnerLog := s.sup.log()
	for _, l := range runnerDecision.FindAllStringSubmatch(runnerLog, -1) {
		seq := idSeq[l[2]]
		if seq == "" {
			continue // a message a killed sendmail left and nothing found
		}
		score, _ := strconv.ParseFloat(l[3], 64)
		d := decided[seq]
		d.add(score, l[4] == "refuse", "runner")
		decided[seq] = d
		history[seq] = append(history[seq], "runner "+l[0])
	}

	cfg, err := config.Load(s.e.config)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Store == nil {
		t.Fatalf("the state store is not back: %v", h.StoreErr)
	}
	defer h.Close()
	ctx := context.Background()
	for _, site := range s.gen.sites {
		p := cfg.Policy(site.name)
		events, err := h.Store.SpamLog(ctx, site.name, time.Now(), p.Window)
		if err != nil {
			t.Fatalf("%s: spam log: %v", site.name, err)
		}
		inc, err := h.Store.Disabled(ctx, site.name)
		if err != nil {
			t.Fatal(err)
		}
		// The store keeps a site's last max_spam+1 events, so after a
		// trip the older ones may be gone.
		pruned := inc != nil
		stored, storedRcpts := map[string]int{}, 0
		for _, ev := range events {
			m := soakMessageID.FindStringSubmatch(ev.MessageID)
			if m == nil {
				s.violation("%s: an event in the store with Message-ID %q, which names no message of the soak: the header was lost (score %.1f, subject %q, %d recipients)", site.name, ev.MessageID, ev.Score, ev.Subject, ev.Recipients)
				continue
			}
			seq := m[1]
			stored[seq]++
			storedRcpts += ev.Recipients
			if sub := s.subs[seq]; sub != nil && ev.Recipients != len(sub.msg.rcpts) {
				s.violation("%s: the store counts %d recipients, the envelope has %d", seq, ev.Recipients, len(sub.msg.rcpts))
			}
		}
		for seq, n := range stored {
			if n > 1 {
				s.violation("%s: counted %d times in the store; decisions logged: %q; the runner's problems with it: %q", seq, n, history[seq], problemsWith(runnerLog, idsOf(idSeq, seq)))
			}
		}
		logged, letThrough := 0, 0
		for seq, sub := range s.subs {
			if sub.msg.site != site {
				continue
			}
			d, ok := decided[seq]
			spam := d.score >= p.SpamScore
			// The log rounds to one decimal: 4.95 and 5.04 both read 5.0.
			sure := ok && strconv.FormatFloat(d.score, 'f', 1, 64) != strconv.FormatFloat(p.SpamScore, 'f', 1, 64)
			if ok && spam {
				logged += len(sub.msg.rcpts)
			}
			switch {
			case !sure:
			case !spam && stored[seq] > 0:
				s.violation("%s: %s logged score %.1f, not spam-marked, but the store counts it", seq, d.by, d.score)
			case spam && stored[seq] == 0 && !pruned:
				s.violation("%s: %s logged score %.1f, spam-marked, but the store does not count it", seq, d.by, d.score)
			}
			if accepted[seq] != nil && !d.refuse && (ok && spam || !ok && stored[seq] > 0) {
				letThrough += len(sub.msg.rcpts)
			}
		}
		if letThrough > p.MaxSpam {
			s.violation("%s: %d spam-marked recipients accepted, more than max_spam %d: a spam-marked message must count once per envelope recipient", site.name, letThrough, p.MaxSpam)
		}
		if storedRcpts > p.MaxSpam && inc == nil {
			s.violation("%s: %d spam-marked recipients in the store, more than max_spam %d, and not disabled", site.name, storedRcpts, p.MaxSpam)
		}
		s.stats[site.name+" spam recipients in the store"] = storedRcpts
		s.stats[site.name+" spam recipients logged"] = logged
		s.stats[site.name+" spam recipients accepted"] = letThrough
		if inc != nil {
			s.stats[site.name+" tripped"] = 1
		}
	}
}

// idsOf returns the spool IDs of message seq.
func idsOf(idSeq map[string]string, seq string) []string {
	var ids []string
	for id, s := range idSeq {
		if s == seq {
			ids = append(ids, id)
		}
	}
	return ids
}

// problemsWith returns the lines of log that name one of ids but no
// action: the warnings and errors about them.
func problemsWith(log string, ids []string) []string {
	var lines []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " action=") {
			continue
		}
		for _, id := range ids {
			if strings.Contains(line, id) {
				lines = append(lines, strings.TrimSpace(line))
				break
			}
		}
	}
	return lines
}

// report logs the table of the run and writes it to -soak.table.
func (s *soak) report(total, load time.Duration) {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	b.WriteString("| soak | |\n|---|---|\n")
	row("seed", s.seed)
	row("duration", fmt.Sprintf("%v of load and faults, %v in all", load, total.Round(time.Second)))
	doors, rcpts, shapes := map[string]int{}, 0, map[string]int{}
	for _, sub := range s.subs {
		doors[sub.msg.door.String()]++
		shapes[sub.msg.shape]++
		rcpts += len(sub.msg.rcpts)
	}
	row("messages submitted", fmt.Sprintf("%d (%s)", len(s.subs), joinCounts(doors)))
	row("MIME shapes", joinCounts(shapes))
	row("recipients submitted", rcpts)
	keys := slices.Sorted(maps.Keys(s.stats))
	for _, k := range keys {
		row(k, s.stats[k])
	}
	row("faults injected", joinCounts(s.faults))
	row("invariant violations", len(s.violations))
	s.t.Logf("\n%s", b.String())
	for i, v := range s.violations {
		if i == 200 {
			s.t.Errorf("… and %d more violations", len(s.violations)-i)
			break
		}
		s.t.Error(v)
	}
	if *soakTable != "" {
		if err := os.WriteFile(*soakTable, []byte(b.String()), 0o644); err != nil {
			s.t.Error(err)
		}
	}
}

func abs(n int) int { return max(n, -n) }

// joinCounts writes counts as "a 3, b 1", by key.
func joinCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
