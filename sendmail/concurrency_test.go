package main

import (
	"fmt"
	"os/exec"
	"sync"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// runConcurrently runs n sendmail processes at once, each submitting
// GuestbookSpam(i), and returns their exit statuses.
func (e *testEnv) runConcurrently(n int) map[int]int {
	e.t.Helper()
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.runCmd(exec.Command(sendmailBin, "-t", "-i", "-fnoreply@shop1.example"), string(spamruntest.GuestbookSpam("shop1.example", i)))
			mu.Lock()
			codes[r.code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return codes
}

// TestSendmailConcurrentSpamRun: 200 sendmail processes submit spam for
// one site at once. Exactly MaxSpam are accepted and held, the site trips
// at message MaxSpam+1, every later one is refused, and nothing reaches the
// relay: the shared state is exact under that load.
func TestSendmailConcurrentSpamRun(t *testing.T) {
	const processes, maxSpam = 200, 10
	e := newEnv(t, fmt.Sprintf("[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = \"15m\"\n", maxSpam))
	codes := e.runConcurrently(processes)
	if codes[0] != maxSpam || codes[69] != processes-maxSpam || len(codes) != 2 {
		t.Errorf("exit statuses %v; want %d × 0 and %d × 69", codes, maxSpam, processes-maxSpam)
	}
	checkTripped(t, e, maxSpam)
	// A pass bounces the rest and sends one DSN per accepted message,
	// and never the spam.
	if r := e.run("", "-q"); r.code != 0 {
		t.Errorf("-q: exit %d %q", r.code, r.stderr)
	}
	if n := checkDSNs(t, e.sink.Messages(), "noreply@shop1.example"); n != maxSpam {
		t.Errorf("%d DSNs relayed, want %d", n, maxSpam)
	}
}

// checkTripped checks the spool after a run tripped its site, before any
// queue pass: the tripping process bounced what was held by then; a
// message accepted before the trip but spooled after it is still held.
// Nothing reached the relay.
func checkTripped(t *testing.T, e *testEnv, accepted int) {
	t.Helper()
	bounced := 0
	for _, m := range e.quarantine() {
		if m.State != spool.Bounced || !m.Spam {
			t.Errorf("in quarantine: %+v", m)
		}
		bounced++
	}
	held := 0
	for _, m := range e.queue() {
		switch {
		case m.Kind == spool.KindDSN:
		case m.State == spool.Held && m.Spam:
			held++
		default:
			t.Errorf("queued message not held as spam: %+v", m)
		}
	}
	if bounced+held != accepted {
		t.Errorf("%d bounced + %d held, want the %d accepted", bounced, held, accepted)
	}
	if n := len(e.sink.Messages()); n != 0 {
		t.Errorf("%d messages reached the relay before a queue pass", n)
	}
}
