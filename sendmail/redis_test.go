package main

import (
	"fmt"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

func redisConfig(r *spamruntest.RedisServer, maxSpam int, holdFor string) string {
	return redisURLConfig(r.URL(), maxSpam, holdFor)
}

func redisURLConfig(url string, maxSpam int, holdFor string) string {
	return fmt.Sprintf("[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = %q\n[store]\nkind = \"redis\"\nurl = %q\n", maxSpam, holdFor, url)
}

// TestSendmailRedisConcurrentSpamRun is TestSendmailConcurrentSpamRun on
// the shared Redis state.
func TestSendmailRedisConcurrentSpamRun(t *testing.T) {
	const processes, maxSpam = 200, 10
	// The test is about exact counts, not Redis' timeouts: 200 processes
	// started at once on a busy test machine can wait longer than the
	// default half second for their turn, and would be left undecided.
	url := spamruntest.StartRedis(t).URL() + "?dial_timeout=10s&read_timeout=10s&write_timeout=10s"
	e := newEnv(t, redisURLConfig(url, maxSpam, "15m"))
	codes := e.runConcurrently(processes)
	if codes[0] != maxSpam || codes[69] != processes-maxSpam || len(codes) != 2 {
		t.Errorf("exit statuses %v; want %d × 0 and %d × 69", codes, maxSpam, processes-maxSpam)
	}
	checkTripped(t, e, maxSpam)
}

// TestSendmailTwoNodes: two web nodes, each with its own spool, share one
// Redis. A run on node A trips the site; node B then refuses the site's mail
// and relays none of what it had queued.
func TestSendmailTwoNodes(t *testing.T) {
	r := spamruntest.StartRedis(t)
	a := newEnv(t, redisConfig(r, 2, "15m"))
	b := newEnv(t, redisConfig(r, 2, "0s"))
	// Node B holds a message of the site, deferred while its relay is down.
	b.setRelay(spamruntest.FreeAddr(t))
	if res := b.run(hamMessage, "-t", "-i"); res.code != 0 {
		t.Fatalf("node B: exit %d %q", res.code, res.stderr)
	}
	b.setRelay(b.sink.Addr())
	// The run on node A: two spam held, the third trips the site.
	for i := range 3 {
		res := a.run(string(spamruntest.GuestbookSpam("shop1.example", i)), "-t", "-i", "-fnoreply@shop1.example")
		if want := map[bool]int{true: 69, false: 0}[i == 2]; res.code != want {
			t.Fatalf("node A, spam %d: exit %d, want %d", i, res.code, want)
		}
	}
	if res := b.run(hamMessage, "-t", "-i"); res.code != 69 {
		t.Errorf("node B after the trip: exit %d %q", res.code, res.stderr)
	}
	// Node B's queue pass relays nothing of the disabled site, even due:
	// it returns its message to the sender.
	s, _ := spool.Open(b.spool)
	q := b.queue()
	if len(q) != 1 {
		t.Fatalf("node B queue: %d", len(q))
	}
	q[0].NextAttempt = q[0].Received
	if err := s.Update(q[0]); err != nil {
		t.Fatal(err)
	}
	if res := b.run("", "-q"); res.code != 0 {
		t.Errorf("node B -q: exit %d %q", res.code, res.stderr)
	}
	if n := len(a.sink.Messages()); n != 0 {
		t.Errorf("node A relayed %d messages of a disabled site", n)
	}
	if n := checkDSNs(t, b.sink.Messages(), q[0].Sender); n != 1 {
		t.Errorf("node B relayed %d DSNs, want 1", n)
	}
	if qq := b.quarantine(); len(qq) != 1 || qq[0].ID != q[0].ID || qq[0].State != spool.Bounced {
		t.Errorf("node B's message is not bounced into quarantine: %v", qq)
	}
}

// TestSendmailRedisDown: with Redis gone, mail is accepted undecided and
// nothing is relayed, so a site that tripped elsewhere cannot slip through;
// when Redis is back the queue pass decides in order of arrival, and a run
// that happened meanwhile trips the site as if Redis had never gone.
func TestSendmailRedisDown(t *testing.T) {
	r := spamruntest.StartRedis(t)
	e := newEnv(t, redisConfig(r, 2, "0s"))
	r.Kill()
	if res := e.run(hamMessage, "-t", "-i"); res.code != 0 {
		t.Fatalf("ham while Redis is down: exit %d %q", res.code, res.stderr)
	}
	for i := range 4 {
		if res := e.run(string(spamruntest.GuestbookSpam("shop1.example", i)), "-t", "-i", "-fnoreply@shop1.example"); res.code != 0 {
			t.Fatalf("spam %d while Redis is down: exit %d %q", i, res.code, res.stderr)
		}
	}
	q := e.queue()
	if len(q) != 5 {
		t.Fatalf("%d accepted into the queue, want 5", len(q))
	}
	for _, m := range q {
		if m.State != spool.Undecided {
			t.Errorf("%s: state %s while Redis is down", m.ID, m.State)
		}
	}
	if res := e.run("", "-q"); res.code != 75 || len(e.sink.Messages()) != 0 {
		t.Errorf("-q while Redis is down: exit %d, %d relayed", res.code, len(e.sink.Messages()))
	}
	r.Start()
	if res := e.run("", "-q"); res.code != 0 {
		t.Fatalf("-q after Redis is back: exit %d %q", res.code, res.stderr)
	}
	// The ham and the first two spam (hold is off) go; the third spam
	// tripped the site, and it and the fourth are returned to the sender.
	msgs := e.sink.Messages()
	if len(msgs) != 5 {
		t.Fatalf("%d relayed after recovery, want 3 and 2 DSNs", len(msgs))
	}
	if n := checkDSNs(t, msgs[3:], "noreply@shop1.example"); n != 2 {
		t.Errorf("%d DSNs, want 2", n)
	}
	if len(e.queue()) != 0 || len(e.quarantine()) != 2 {
		t.Errorf("%d left queued and %d in quarantine, want 0 and the 2 of the disabled site", len(e.queue()), len(e.quarantine()))
	}
	if res := e.run(hamMessage, "-t", "-i"); res.code != 69 {
		t.Errorf("after recovery the site is not disabled: exit %d", res.code)
	}
}
