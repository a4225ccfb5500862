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
	q := e.queue()
	if len(q) != maxSpam {
		t.Fatalf("%d queued, want %d", len(q), maxSpam)
	}
	for _, m := range q {
		if m.State != spool.Held || !m.Spam {
			t.Errorf("queued message not held as spam: %+v", m)
		}
	}
	if n := len(e.sink.Messages()); n != 0 {
		t.Errorf("%d spam messages reached the relay", n)
	}
}
