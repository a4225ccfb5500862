package main

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun/redisstore"
	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// TestSendmailSentinelFailover: a spam run of 20 sendmail processes on a
// site whose state is in a Redis master watched by three sentinels. During
// the run the master is killed (SIGKILL): the processes that run before
// the sentinels promote the replica find no master and accept their
// message undecided; those after reach the new master. In the first case
// the run outlasts the failover, and its later processes trip the site;
// in the second it ends before, and the queue passes after the failover
// decide the undecided messages and trip it. Then: the site tripped
// exactly once, nothing of the site was relayed (hold mode), every
// accepted message is in exactly one final state of the spool, and the
// spam log holds max_spam+1 distinct submissions, so no decision was
// counted twice.
func TestSendmailSentinelFailover(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pace      time.Duration // between the starts of two processes
		killAfter int           // processes started before the kill
	}{
		{"RunOutlastsFailover", 250 * time.Millisecond, 6},
		{"RunEndsDuringFailover", 80 * time.Millisecond, 3},
	} {
		t.Run(tc.name, func(t *testing.T) { sentinelFailover(t, tc.pace, tc.killAfter) })
	}
}

func sentinelFailover(t *testing.T, pace time.Duration, killAfter int) {
	const processes, maxSpam = 20, 10
	redisstore.SetLogger(nil)
	s := spamruntest.StartRedisSentinel(t)
	e := newEnv(t, redisURLConfig(s.URL(), maxSpam, "15m"))
	master := s.Master()

	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for i := range processes {
		<-tick.C
		if i == killAfter {
			master.Kill()
		}
		wg.Go(func() {
			cmd := exec.Command(sendmailBin, "-t", "-i", "-fnoreply@shop1.example")
			r := e.runCmd(cmd, string(spamruntest.GuestbookSpam("shop1.example", i)))
			mu.Lock()
			codes[r.code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	undecidedAtEnd := 0
	for _, m := range e.queue() {
		if m.State == spool.Undecided {
			undecidedAtEnd++
		}
	}
	s.WaitFailover(master)
	t.Logf("exit statuses during the run: %v; undecided when it ended: %d", codes, undecidedAtEnd)
	if len(codes) > 2 || codes[0]+codes[69] != processes {
		t.Fatalf("exit statuses %v; want only 0 (accepted) and 69 (refused)", codes)
	}
	// The sentinels wait a second before they call the master down, so
	// the processes started in that second found no master: each accepted
	// its message undecided, beyond the max_spam a live store accepts.
	if codes[0] <= maxSpam {
		t.Errorf("%d messages accepted, want more than max_spam %d: some undecided while there was no master", codes[0], maxSpam)
	}

	undecided := func() int {
		n := 0
		for _, m := range e.queue() {
			if m.State == spool.Undecided {
				n++
			}
		}
		return n
	}
	for pass := 0; undecided() > 0; pass++ {
		if pass == 10 {
			t.Fatalf("%d messages still undecided after 10 queue passes", undecided())
		}
		e.makeDue()
		if r := e.run("", "-q"); r.code != 0 {
			t.Fatalf("-q: exit %d %q", r.code, r.stderr)
		}
	}

	st, err := redisstore.Open(s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	incs, err := st.Incidents(ctx, "shop1")
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 {
		t.Fatalf("%d incidents of shop1, want exactly 1: %+v", len(incs), incs)
	}
	if inc, err := st.Disabled(ctx, "shop1"); err != nil || inc == nil || inc.ID != incs[0].ID {
		t.Errorf("Disabled = %v, %v; want the one incident %s", inc, err, incs[0].ID)
	}

	// No decision counted twice: the trip came at max_spam+1 distinct
	// submissions, which the log holds.
	log, err := st.SpamLog(ctx, "shop1", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	subs := map[string]bool{}
	for _, ev := range log {
		if ev.Submission == "" || subs[ev.Submission] {
			t.Errorf("submission %q counted twice or without an ID", ev.Submission)
		}
		subs[ev.Submission] = true
	}
	if len(subs) != maxSpam+1 {
		t.Errorf("the log holds %d submissions, want the %d that tripped the site", len(subs), maxSpam+1)
	}

	// Every accepted message in exactly one final state, none relayed.
	seen := map[string]bool{}
	accepted := 0
	for _, m := range append(e.queue(), e.quarantine()...) {
		if m.Kind == spool.KindDSN {
			continue
		}
		if seen[m.ID] {
			t.Errorf("message %s is in the spool twice", m.ID)
		}
		seen[m.ID] = true
		accepted++
		if !m.State.Final() && (m.State != spool.Held || !m.Spam) {
			t.Errorf("message %s is %s (spam %v), want held as spam, bounced or quarantined", m.ID, m.State, m.Spam)
		}
	}
	if accepted != codes[0] {
		t.Errorf("%d messages in the spool, want the %d accepted", accepted, codes[0])
	}
	checkDSNs(t, e.sink.Messages(), "noreply@shop1.example")
}
