package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/spamrun/spamrun/spamruntest"
	"github.com/spamrun/spamrun/spool"
)

// TestSendmailCountsRecipients: with max_spam = 5, one spam-marked message
// to 51 recipients is 51 spam, as the relay would count it: the site trips
// at once, the message is refused with 69 and nothing is relayed. Counting
// messages, the same message is one spam, and held as before.
func TestSendmailCountsRecipients(t *testing.T) {
	spam := string(spamruntest.GuestbookSpam("shop1.example", 0))
	args := append([]string{"-i", "-fnoreply@shop1.example"}, spamruntest.Recipients(51)...)

	t.Run("recipients", func(t *testing.T) {
		e := newEnv(t, "[policy]\nmax_spam = 5\nwindow = \"1h\"\nhold_for = \"15m\"\n")
		r := e.run(spam, args...)
		if r.code != 69 || !strings.Contains(r.stderr, testArticle) {
			t.Fatalf("51-recipient spam: exit %d, stderr %q; want 69 naming the article", r.code, r.stderr)
		}
		if r := e.run(hamMessage, "-t", "-i"); r.code != 69 {
			t.Errorf("ham after the trip: exit %d %q, want 69: the site is disabled", r.code, r.stderr)
		}
		if r := e.run("", "-q"); r.code != 0 {
			t.Errorf("-q: exit %d %q", r.code, r.stderr)
		}
		if n := len(e.sink.Messages()); n != 0 {
			t.Errorf("%d messages reached the relay", n)
		}
		if q, qq := e.queue(), e.quarantine(); len(q)+len(qq) != 0 {
			t.Errorf("spool holds %d queued and %d quarantined, want nothing of a refused message", len(q), len(qq))
		}
		st := e.runCmd(exec.Command(spamrunBinary(t), "status", "shop1"), "")
		if st.code != 0 || !strings.Contains(st.stdout, "51 recipients of spam-marked messages within 1h (max_spam 5)") {
			t.Errorf("spamrun status shop1: exit %d\n%s%s", st.code, st.stdout, st.stderr)
		}
	})

	t.Run("messages", func(t *testing.T) {
		e := newEnv(t, "[policy]\nmax_spam = 5\nwindow = \"1h\"\nhold_for = \"15m\"\ncount = \"messages\"\n")
		r := e.run(spam, args...)
		if r.code != 0 {
			t.Fatalf("51-recipient spam counting messages: exit %d %q, want 0", r.code, r.stderr)
		}
		q := e.queue()
		if len(q) != 1 || q[0].State != spool.Held || !q[0].Spam || len(q[0].Recipients) != 51 {
			t.Fatalf("queue: %d entries %+v; want the message held with its 51 recipients", len(q), q)
		}
		if n := len(e.sink.Messages()); n != 0 {
			t.Errorf("%d messages reached the relay while held", n)
		}
		if r := e.run(hamMessage, "-t", "-i"); r.code != 0 {
			t.Errorf("ham: exit %d %q, want 0: the site is enabled", r.code, r.stderr)
		}
	})
}
