package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
	"github.com/spamrun/spamrun/sqlitestore"
)

// relayWorkers is how many messages spamrun serve relays at once.
const relayWorkers = 8

// TestFrontCrash kills spamrun serve with SIGKILL once while 20 fronts
// hand it a seeded mix of spam and ham with hold on, and starts it again
// at once. Every message whose front exited 0 ends in exactly one place:
// relayed, bounced with its DSN, or still in the spool; a front whose
// daemon died answers 75, or ran the full sendmail, which took the
// message; nothing refused is anywhere; and the store counts each
// spam-marked accepted message once. SPAMRUN_CRASH_SEED repeats the
// choices (the timing of processes still varies).
func TestFrontCrash(t *testing.T) {
	rng, seed := crashRand(t, 20261205, 0xf407)

	const messages, fronts, maxSpam = 200, 20, 12
	e := newEnv(t, fmt.Sprintf("[policy]\nmax_spam = %d\nwindow = \"1h\"\nhold_for = \"15m\"\n", maxSpam))
	sock := socketPath(t)
	d := e.startFrontServe(sock)
	front := frontBinary(t)

	type plan struct {
		seq  string
		spam bool
		data []byte
		args []string
	}
	plans := make([]plan, messages)
	for i := range plans {
		p := &plans[i]
		if rng.IntN(4) == 0 {
			p.seq, p.spam = fmt.Sprintf("spam-%03d", i), true
			p.data = tagged(p.seq, spamruntest.GuestbookSpam("shop1.example", i))
			p.args = []string{"-t", "-i", "-fnoreply@shop1.example"}
		} else {
			p.seq = fmt.Sprintf("ham-%03d", i)
			p.data = tagged(p.seq, spamruntest.OrderConfirmation("shop1.example", i))
			p.args = []string{"-t", "-i", "-fshop@shop1.example"}
		}
	}
	// The daemon dies once this many fronts have finished.
	killAfter := 20 + rng.IntN(60)

	var (
		mu       sync.Mutex
		exits    = map[string]exit{}
		problems []string
		finished int
		wg       sync.WaitGroup
		kill     = make(chan struct{})
		next     int
	)
	for range fronts {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= messages {
					return
				}
				p := plans[i]
				x, err := start(e.frontCmd(front, sock, p.args...), p.data, 0)
				mu.Lock()
				exits[p.seq] = x
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", p.seq, err))
				}
				if finished++; finished == killAfter {
					close(kill)
				}
				mu.Unlock()
			}
		})
	}
	<-kill
	d.kill()
	d = e.restartFrontServe(sock)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	// The daemon sends the DSNs of the trip, and relays what it answered
	// for before it died; stopped, it has done all it will.
	if !waitFor(60*time.Second, func() bool {
		for _, q := range e.queue() {
			if q.Kind == spool.KindDSN || q.State == spool.Queued {
				return false
			}
		}
		return true
	}) {
		t.Errorf("DSNs or messages still queued after 60s")
	}
	d.stop()
	passes := e.drain()

	accepted, maybe := map[string]bool{}, map[string]bool{}
	answered0, refused, failed := 0, 0, 0
	for seq, x := range exits {
		switch x.code {
		case 0:
			accepted[seq] = true
			answered0++
		case 69:
			refused++
		case 75:
			// The daemon died holding the message: it may have spooled it.
			if !strings.Contains(x.stderr, "spamrun serve ended before it answered") {
				t.Errorf("%s: exit 75 %q", seq, x.stderr)
			}
			maybe[seq] = true
			failed++
		default:
			t.Errorf("%s: exit %d %q", seq, x.code, x.stderr)
		}
	}
	if refused == 0 {
		t.Errorf("the spam run did not trip the site")
	}
	if failed > fronts {
		t.Errorf("%d fronts answered 75, more than the %d at work when the daemon died", failed, fronts)
	}
	c := e.take()
	for _, seq := range c.seqs() {
		switch {
		case maybe[seq]:
			accepted[seq] = true
		case !accepted[seq]:
			t.Errorf("%s was refused, yet is relayed or in the spool", seq)
		}
	}
	doubles := 0
	for seq := range accepted {
		switch n := c.places(seq); {
		case n == 0:
			t.Errorf("accepted %s is lost: not relayed, not in the spool", seq)
		case n > 1:
			doubles += n - 1
			t.Logf("%s found %d times: relayed %d, bounced %v, kept %v, queued %v", seq, n, c.relayed[seq], c.bounced[seq] != nil, c.kept[seq] != nil, c.queued[seq] != nil)
		}
	}
	if len(c.twice) > 0 {
		t.Errorf("in the spool twice: %v", c.twice)
	}
	for seq := range c.bounced {
		if n := c.dsns[seq] + c.dsnKept[seq] + c.dsnQueued[seq]; n == 0 {
			t.Errorf("bounced %s has no DSN", seq)
		} else if n > 1 {
			doubles += n - 1
		}
	}
	for _, m := range c.dsnMsgs {
		checkDSN(t, m, dsnWant{status: "5.7.1", article: true, owns: ownedByShop1})
	}
	// A message relayed when the daemon died, before the spool forgot it,
	// is relayed again, or bounced by the trip: one kill explains one such
	// message for each of the daemon's relay workers and one of its
	// queue runner.
	if doubles > relayWorkers+1 {
		t.Errorf("%d messages or DSNs reached the relay twice; one kill explains %d", doubles, relayWorkers+1)
	}
	for seq, q := range c.queued {
		t.Errorf("%s still in the queue after the site tripped: %+v", seq, q)
	}
	for seq := range c.relayed {
		if strings.HasPrefix(seq, "spam-") {
			t.Errorf("spam %s reached the relay", seq)
		}
	}
	checkTmp(t, e, c, accepted)

	// The store counts each spam-marked message once: the site tripped
	// when the count passed max_spam, so exactly max_spam spam-marked
	// messages were accepted before it, less those counted whose daemon
	// died before it spooled them, and none after. The store keeps the
	// newest entries of its log; those of accepted messages are of
	// spam-marked ones.
	lost := 0
	for seq := range maybe {
		if strings.HasPrefix(seq, "spam-") && c.places(seq) == 0 {
			lost++
		}
	}
	spamMarked := 0
	byID := map[string]*spool.Entry{}
	for _, m := range []map[string]*spool.Entry{c.bounced, c.kept, c.queued} {
		for _, en := range m {
			byID[en.ID] = en
			if en.Spam {
				spamMarked++
			}
		}
	}
	if spamMarked > maxSpam || spamMarked < maxSpam-lost {
		t.Errorf("%d spam-marked messages accepted before the trip, want %d (%d counted by a daemon that died before spooling them)", spamMarked, maxSpam, lost)
	}
	st, err := sqlitestore.Open(filepath.Join(e.dir, "state", "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.SpamLog(context.Background(), "shop1", time.Now().Add(time.Minute), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if en := byID[ev.Submission]; en != nil && !en.Spam {
			t.Errorf("the store counts %s, which the spool holds as not spam", ev.Submission)
		}
	}
	incs, err := st.Incidents(context.Background(), "shop1")
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 {
		t.Errorf("%d incidents, want the one trip", len(incs))
	}
	t.Logf("seed %d: daemon killed after %d of %d messages; exit 0 %d, 69 %d, 75 %d (%d of them spooled); spam-marked accepted %d, spam answered 75 and not spooled %d; %d final passes; duplicates %d",
		seed, killAfter, messages, answered0, refused, failed, len(accepted)-answered0, spamMarked, lost, passes, doubles)
}
