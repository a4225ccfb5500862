package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// crashSeedEnv names the variable that repeats a TestCrashSafety run.
const crashSeedEnv = "SPAMRUN_CRASH_SEED"

// TestCrashSafety kills the queue runner and sendmail processes with
// SIGKILL at random points of a run that trips its site, and checks that
// nothing accepted is lost: every message whose sendmail exited 0 ends in
// exactly one place, relayed, bounced, kept or still queued. A message may
// reach the relay twice only when a runner died between the relay taking
// it and the spool forgetting it, so there are at most as many duplicates
// as runner kills. The choices are seeded; the seed is printed and
// SPAMRUN_CRASH_SEED repeats them (the timing of processes still varies).
func TestCrashSafety(t *testing.T) {
	rng, seed := crashRand(t, 20260214, 0x5eed)

	const (
		messages, processes, maxSpam = 300, 8, 20
		runnerKills                  = 8
	)
	// With pacing configured sendmail leaves all relaying to the runner,
	// so the runner's crashes hit messages in the middle of delivery.
	e := newEnv(t, fmt.Sprintf("[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = \"15m\"\n[queue]\nmax_rate = 100000\nrate_interval = \"1s\"\n", maxSpam))

	// Every choice is made up front, from the seed.
	type plan struct {
		seq       string
		data      []byte
		args      []string
		killAfter time.Duration
	}
	plans := make([]plan, messages)
	for i := range plans {
		p := &plans[i]
		switch {
		case rng.IntN(8) == 0:
			p.seq = fmt.Sprintf("spam-%03d", i)
			p.data = tagged(p.seq, spamruntest.GuestbookSpam("shop1.example", i))
			from := "-fnoreply@shop1.example"
			if rng.IntN(4) == 0 {
				from = fmt.Sprintf("-fvictim%d@foreign.example", i)
			}
			p.args = []string{"-t", "-i", from}
		default:
			p.seq = fmt.Sprintf("ham-%03d", i)
			p.data = tagged(p.seq, spamruntest.OrderConfirmation("shop1.example", i))
			p.args = []string{"-t", "-i", "-fshop@shop1.example"}
		}
		if rng.IntN(10) == 0 {
			p.killAfter = time.Duration(1+rng.IntN(40)) * time.Millisecond
		}
	}
	killAt := make([]time.Duration, runnerKills)
	for i := range killAt {
		killAt[i] = time.Duration(200+rng.IntN(1800)) * time.Millisecond
	}

	var (
		mu       sync.Mutex
		exits    = map[string]exit{}
		problems []string
		wg       sync.WaitGroup
		next     atomic.Int64
		done     = make(chan struct{})
	)
	runner := e.startRunner(true)
	began := time.Now()
	for range processes {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= messages {
					return
				}
				p := plans[i]
				x, err := start(e.sendmailCmd(sendmailBin, os.Getuid(), p.args...), p.data, p.killAfter)
				mu.Lock()
				exits[p.seq] = x
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", p.seq, err))
				}
				mu.Unlock()
			}
		})
	}
	// The runner dies and is restarted by its supervisor, at once, while
	// the run goes on.
	kills := 0
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for _, d := range killAt {
			select {
			case <-done:
				return
			case <-time.After(d):
			}
			runner.kill()
			kills++
			runner = e.startRunner(false)
		}
	}()
	wg.Wait()
	close(done)
	<-killerDone
	// The last runner may have been restarted a moment ago; systemd stops
	// a service that has started, not one still starting.
	runner.waitReady(e.spool)
	submitted := time.Since(began)
	for _, p := range problems {
		t.Error(p)
	}
	// A last runner sees the run's DSNs out, then stops as systemd stops
	// it; single passes finish whatever is due.
	if !waitFor(60*time.Second, func() bool {
		for _, q := range e.queue() {
			if q.Kind == spool.KindDSN {
				return false
			}
		}
		return true
	}) {
		t.Errorf("DSNs still queued after 60s")
	}
	runner.stop()
	passes := e.drain()

	accepted, maybe, refused, killed := map[string]bool{}, map[string]bool{}, 0, 0
	for seq, x := range exits {
		switch {
		case x.killed:
			maybe[seq] = true
			killed++
		case x.code == 0:
			accepted[seq] = true
		case x.code == 69:
			refused++
		default:
			t.Errorf("%s: exit %d %q", seq, x.code, x.stderr)
		}
	}
	c := e.take()
	// Whatever a killed sendmail left in the spool or at the relay was
	// accepted after all.
	for _, seq := range c.seqs() {
		switch {
		case maybe[seq]:
			accepted[seq] = true
		case !accepted[seq]:
			t.Errorf("%s was refused, yet is relayed or in the spool", seq)
		}
	}
	doubles := 0
	relayed, bounced, kept, queued := 0, 0, 0, 0
	for seq := range accepted {
		n := c.places(seq)
		switch {
		case n == 0:
			t.Errorf("accepted %s is lost: not relayed, not in the spool", seq)
		case n > 1:
			doubles += n - 1
			t.Logf("%s found %d times: relayed %d, bounced %v, kept %v, queued %v", seq, n, c.relayed[seq], c.bounced[seq] != nil, c.kept[seq] != nil, c.queued[seq] != nil)
		}
		relayed += c.relayed[seq]
		if c.bounced[seq] != nil {
			bounced++
		}
		if c.kept[seq] != nil {
			kept++
		}
		if c.queued[seq] != nil {
			queued++
		}
	}
	if len(c.twice) > 0 {
		t.Errorf("in the spool twice: %v", c.twice)
	}
	// Every bounced message has its DSN at the relay, or kept when the
	// relay refused it; one, unless a crash made a second.
	dsns := 0
	for seq := range c.bounced {
		n := c.dsns[seq] + c.dsnKept[seq] + c.dsnQueued[seq]
		switch {
		case n == 0:
			t.Errorf("bounced %s has no DSN: neither relayed nor in the spool", seq)
		case n > 1:
			doubles += n - 1
			t.Logf("bounced %s has %d DSNs", seq, n)
		}
		dsns += c.dsns[seq]
	}
	for seq, n := range c.dsns {
		if c.bounced[seq] == nil {
			t.Errorf("%d DSNs quote %q, which is not a bounced message", n, seq)
		}
	}
	for _, m := range c.dsnMsgs {
		checkDSN(t, m, dsnWant{status: "5.7.1", article: true, owns: ownedByShop1})
	}
	if doubles > kills {
		t.Errorf("%d messages or DSNs reached the relay twice, more than the %d runner kills explain", doubles, kills)
	}
	// A spam run of the site must have tripped it: nothing of it is left
	// waiting to go out.
	for seq, q := range c.queued {
		t.Errorf("%s still in the queue after the site tripped: %+v", seq, q)
	}
	checkTmp(t, e, c, accepted)

	t.Logf("seed %d: %d messages in %v (%d sendmail killed, %d runner kills, %d final passes): accepted %d, refused %d; relayed %d, bounced %d, kept %d, queued %d; DSNs %d; duplicates %d",
		seed, messages, submitted.Round(time.Millisecond), killed, kills, passes, len(accepted), refused, relayed, bounced, kept, queued, dsns, doubles)
}

// checkTmp checks what killed processes left in the spool's tmp/: an
// unfinished rewrite of a message the spool holds, or an unfinished
// submission that was never accepted. No accepted message may exist only
// there.
func checkTmp(t *testing.T, e *testEnv, c *census, accepted map[string]bool) {
	t.Helper()
	s, err := spool.Open(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(filepath.Join(e.spool, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, _, err := s.Read(n.Name()); err == nil {
			continue // a rewrite that did not finish; the spool's copy stands
		}
		data, err := os.ReadFile(filepath.Join(e.spool, "tmp", n.Name()))
		if err != nil {
			t.Errorf("tmp/%s: %v", n.Name(), err)
			continue
		}
		if i := strings.IndexByte(string(data), '\n'); i >= 0 {
			data = data[i+1:]
		}
		if seq := seqOf(data); seq != "" && accepted[seq] && c.places(seq) == 0 {
			t.Errorf("accepted %s exists only in tmp/%s", seq, n.Name())
		}
	}
	if len(names) > 0 {
		t.Logf("%d unfinished files in tmp/, none of them an accepted message", len(names))
	}
}

// crashRand returns the random source of a crash test and its seed: seed,
// or SPAMRUN_CRASH_SEED to repeat a run, which it logs.
func crashRand(t *testing.T, seed, salt uint64) (*rand.Rand, uint64) {
	t.Helper()
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (%s=%d repeats this run)", seed, crashSeedEnv, seed)
	return rand.New(rand.NewPCG(seed, seed^salt)), seed
}
